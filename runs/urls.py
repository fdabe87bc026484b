from django.urls import path

from . import views

urlpatterns = [
    path("sessions/<int:session_pk>/runs/", views.run_create, name="run_create"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("agents/", views.agent_list, name="agent_list"),
    path("agents/new/", views.agent_edit, name="agent_new"),
    path("agents/<int:pk>/", views.agent_edit, name="agent_edit"),
    path("agents/<int:pk>/mcp/", views.agent_mcp_add, name="agent_mcp_add"),
    path(
        "agents/<int:pk>/mcp/<slug:name>/remove/",
        views.agent_mcp_remove,
        name="agent_mcp_remove",
    ),
    path("presets/", views.presets, name="presets"),
    path("lanes/new/", views.lane_group_new, name="lane_group_new"),
    path("lanes/<int:pk>/", views.lane_group_detail, name="lane_group_detail"),
    path("lanes/<int:pk>/cancel/", views.lane_group_cancel, name="lane_group_cancel"),
]
