from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("manifests/", views.manifest_list, name="manifest_list"),
    path("manifests/new/", views.manifest_new, name="manifest_new"),
    path("manifests/<int:pk>/", views.manifest_detail, name="manifest_detail"),
    path("manifests/<int:pk>/edit/", views.manifest_edit, name="manifest_edit"),
    path("manifests/<int:pk>/clone/", views.manifest_clone, name="manifest_clone"),
    path("manifests/<int:pk>/delete/", views.manifest_delete, name="manifest_delete"),
    path("manifests/<int:pk>/export.zip", views.manifest_export, name="manifest_export"),
    path("manifests/<int:pk>/sessions/", views.session_create, name="session_create"),
    path("manifests/<int:pk>/compare/", views.comparison_new, name="comparison_new"),
    path("sessions/", views.session_list, name="session_list"),
    path("sessions/shutdown/", views.session_bulk_shutdown, name="session_bulk_shutdown"),
    path("sessions/<int:pk>/pause/", views.session_pause, name="session_pause"),
    path("sessions/<int:pk>/resume/", views.session_resume, name="session_resume"),
    path("sessions/<int:pk>/extend/", views.session_extend, name="session_extend"),
    path("sessions/<int:pk>/", views.session_detail, name="session_detail"),
    path("sessions/<int:pk>/shutdown/", views.session_shutdown, name="session_shutdown"),
    path("sessions/<int:pk>/workspace/", include("sandboxes.workspace_urls")),
    path("sessions/<int:pk>/previews/", views.preview_create, name="preview_create"),
    path("previews/<int:pk>/", views.preview_detail, name="preview_detail"),
    path("previews/<int:pk>/stop/", views.preview_stop, name="preview_stop"),
    path("previews/<int:pk>/restart/", views.preview_restart, name="preview_restart"),
    path("comparisons/", views.comparison_list, name="comparison_list"),
    path("comparisons/<int:pk>/", views.comparison_detail, name="comparison_detail"),
    path(
        "comparisons/<int:pk>/versions/",
        views.comparison_add_version,
        name="comparison_add_version",
    ),
    path("share/<str:kind>/<int:pk>/", views.share_create, name="share_create"),
    path("shares/<int:pk>/revoke/", views.share_revoke, name="share_revoke"),
    path("s/<str:token>/", views.share_page, name="share_page"),
]
