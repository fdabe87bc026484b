from django.urls import path

from .views import agents, lanes, runs

urlpatterns = [
    path("sessions/<int:session_pk>/runs/", runs.run_create, name="run_create"),
    path("runs/", runs.run_list, name="run_list"),
    path("runs/import/", runs.run_import, name="run_import"),
    path("runs/<int:pk>/export.json", runs.run_export, name="run_export"),
    path("runs/<int:pk>/replay.json", runs.run_replay, name="run_replay"),
    path("threads/<int:pk>/export.json", runs.thread_export, name="thread_export"),
    path("runs/<int:pk>/", runs.run_detail, name="run_detail"),
    path("runs/<int:pk>/timeline/", runs.run_timeline_fragment, name="run_timeline"),
    path("runs/<int:pk>/cancel/", runs.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/result.json", runs.run_result_json, name="run_result_json"),
    path("runs/<int:pk>/delete/", runs.run_delete, name="run_delete"),
    path("runs/images/<int:pk>", runs.run_image, name="run_image"),
    path(
        "runs/<int:pk>/approvals/<int:approval_pk>/",
        runs.approval_decide,
        name="approval_decide",
    ),
    path("sessions/<int:session_pk>/threads/", runs.thread_create, name="thread_create"),
    path("agents/", agents.agent_list, name="agent_list"),
    path("agents/new/", agents.agent_edit, name="agent_new"),
    path("agents/<int:pk>/", agents.agent_edit, name="agent_edit"),
    path("agents/<int:pk>/mcp/", agents.agent_mcp_add, name="agent_mcp_add"),
    path("agents/<int:pk>/mcp/builtin/", agents.agent_mcp_builtin, name="agent_mcp_builtin"),
    path(
        "agents/<int:pk>/mcp/<slug:name>/remove/",
        agents.agent_mcp_remove,
        name="agent_mcp_remove",
    ),
    path("presets/", lanes.presets, name="presets"),
    path("lanes/new/", lanes.lane_group_new, name="lane_group_new"),
    path("lanes/<int:pk>/", lanes.lane_group_detail, name="lane_group_detail"),
    path("lanes/<int:pk>/cancel/", lanes.lane_group_cancel, name="lane_group_cancel"),
    path("lanes/<int:pk>/delete/", lanes.lane_group_delete, name="lane_group_delete"),
]
