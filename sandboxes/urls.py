from django.urls import path

from .views import manifests, previews, screenshots, sessions, workspace

urlpatterns = [
    path("", sessions.home, name="home"),
    path("manifests/", manifests.manifest_list, name="manifest_list"),
    path("manifests/new/", manifests.manifest_new, name="manifest_new"),
    path("manifests/<int:pk>/", manifests.manifest_detail, name="manifest_detail"),
    path("manifests/<int:pk>/edit/", manifests.manifest_edit, name="manifest_edit"),
    path("manifests/<int:pk>/clone/", manifests.manifest_clone, name="manifest_clone"),
    path("manifests/<int:pk>/delete/", manifests.manifest_delete, name="manifest_delete"),
    path("manifests/<int:pk>/export.zip", manifests.manifest_export, name="manifest_export"),
    path("manifests/<int:pk>/sessions/", sessions.session_create, name="session_create"),
    path("sessions/", sessions.session_list, name="session_list"),
    path("sessions/shutdown/", sessions.session_bulk_shutdown, name="session_bulk_shutdown"),
    path("sessions/<int:pk>/", sessions.session_detail, name="session_detail"),
    path("sessions/<int:pk>/pause/", sessions.session_pause, name="session_pause"),
    path("sessions/<int:pk>/resume/", sessions.session_resume, name="session_resume"),
    path("sessions/<int:pk>/extend/", sessions.session_extend, name="session_extend"),
    path("sessions/<int:pk>/shutdown/", sessions.session_shutdown, name="session_shutdown"),
    path("sessions/<int:pk>/delete/", sessions.session_delete, name="session_delete"),
    path("sessions/<int:pk>/previews/", previews.preview_create, name="preview_create"),
    path("sessions/<int:pk>/workspace/", workspace.workspace_tree, name="workspace_tree"),
    path("sessions/<int:pk>/workspace/file/", workspace.workspace_file, name="workspace_file"),
    path("sessions/<int:pk>/workspace/changes/", workspace.workspace_diff, name="workspace_diff"),
    path("sessions/<int:pk>/workspace/download.zip", workspace.workspace_zip, name="workspace_zip"),
    path(
        "sessions/<int:pk>/workspace/console/",
        workspace.workspace_console,
        name="workspace_console",
    ),
    path("previews/<int:pk>/", previews.preview_detail, name="preview_detail"),
    path("previews/<int:pk>/stop/", previews.preview_stop, name="preview_stop"),
    path("previews/<int:pk>/restart/", previews.preview_restart, name="preview_restart"),
    path("previews/<int:pk>/screenshot/", previews.preview_screenshot, name="preview_screenshot"),
    path("screenshots/<int:pk>.png", screenshots.screenshot_image, name="screenshot_image"),
]
