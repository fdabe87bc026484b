from django.urls import path

from . import views

urlpatterns = [
    path("manifests/<int:pk>/compare/", views.comparison_new, name="comparison_new"),
    path("lanes/<int:pk>/compare/", views.comparison_from_lanes, name="comparison_from_lanes"),
    path("comparisons/", views.comparison_list, name="comparison_list"),
    path("comparisons/<int:pk>/", views.comparison_detail, name="comparison_detail"),
    path("comparisons/<int:pk>/diff/", views.version_diff, name="version_diff"),
    path("comparisons/<int:pk>/delete/", views.comparison_delete, name="comparison_delete"),
    path(
        "comparisons/<int:pk>/versions/",
        views.comparison_add_version,
        name="comparison_add_version",
    ),
    path(
        "comparisons/<int:pk>/versions/<int:version_pk>/refine/",
        views.version_refine,
        name="version_refine",
    ),
    path("share/<str:kind>/<int:pk>/", views.share_create, name="share_create"),
    path("shares/<int:pk>/revoke/", views.share_revoke, name="share_revoke"),
    path("shares/<int:pk>/snapshots/", views.share_snapshots, name="share_snapshots"),
    path("s/", views.share_open, name="share_open"),
    path("s/<int:pk>/", views.share_page, name="share_page"),
    path(
        "s/<int:pk>/open/<int:preview_pk>/",
        views.share_preview_open,
        name="share_preview_open",
    ),
    path(
        "s/<int:pk>/screenshots/<int:shot_pk>.png",
        views.share_screenshot,
        name="share_screenshot",
    ),
    path("s/<str:token>/", views.share_legacy, name="share_legacy"),
]
