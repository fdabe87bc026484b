"""Workspace browser URLs, under sessions/<pk>/workspace/ (see sandboxes.workspace_views)."""

from django.urls import path

from . import workspace_views

urlpatterns = [
    path("", workspace_views.workspace_tree, name="workspace_tree"),
    path("file/", workspace_views.workspace_file, name="workspace_file"),
    path("changes/", workspace_views.workspace_diff, name="workspace_diff"),
    path("download.zip", workspace_views.workspace_zip, name="workspace_zip"),
    path("console/", workspace_views.workspace_console, name="workspace_console"),
]
