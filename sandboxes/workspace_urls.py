"""Workspace browser URLs, under sessions/<pk>/workspace/ (see sandboxes.workspace_views)."""

urlpatterns: list = []
