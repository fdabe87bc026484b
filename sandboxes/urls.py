from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("manifests/", views.manifest_list, name="manifest_list"),
    path("manifests/<int:pk>/", views.manifest_detail, name="manifest_detail"),
    path("manifests/<int:pk>/sessions/", views.session_create, name="session_create"),
    path("sessions/", views.session_list, name="session_list"),
    path("sessions/<int:pk>/", views.session_detail, name="session_detail"),
    path("sessions/<int:pk>/shutdown/", views.session_shutdown, name="session_shutdown"),
]
