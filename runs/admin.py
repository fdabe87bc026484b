from django.contrib import admin

from .models import AgentConfig, Approval, Lane, LaneGroup, ModelPrice, Run, RunEvent, Thread


@admin.register(AgentConfig)
class AgentConfigAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "model", "max_turns", "created_at"]
    search_fields = ["name", "owner__username", "model"]


class RunEventInline(admin.TabularInline):
    model = RunEvent
    extra = 0
    fields = ["seq", "kind", "payload", "created_at"]
    readonly_fields = fields
    can_delete = False
    max_num = 0
    show_change_link = False


class ApprovalInline(admin.TabularInline):
    model = Approval
    extra = 0
    fields = ["call_id", "kind", "detail", "decision", "always", "reason", "decided_by"]
    readonly_fields = fields
    can_delete = False
    max_num = 0


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "owner",
        "session",
        "thread",
        "turn",
        "status",
        "total_tokens",
        "cost",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["prompt", "owner__username", "final_output", "error"]
    readonly_fields = ["heartbeat_at", "started_at", "finished_at", "created_at", "awaiting_since"]
    # The paused RunState is sealed (its conversation holds what commands printed): never shown.
    exclude = ["paused_state"]
    list_select_related = ["owner", "session"]
    raw_id_fields = ["lane", "parent", "lane_group", "thread", "session", "agent_config"]
    inlines = [ApprovalInline, RunEventInline]


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "session", "created_at", "updated_at"]
    search_fields = ["owner__username", "session__name"]
    # The history is sealed at rest; the admin shows the turns, not it.
    exclude = ["history"]
    readonly_fields = ["owner", "session", "created_at", "updated_at"]


class LaneInline(admin.TabularInline):
    """An agent-led group's lanes (its coordinator's tools); their agents are in their runs."""

    model = Lane
    extra = 0
    fields = ["position", "label", "tool_name", "description", "session", "serves_preview"]
    readonly_fields = fields
    can_delete = False
    max_num = 0


@admin.register(LaneGroup)
class LaneGroupAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "preset", "mode", "created_at"]
    list_filter = ["mode"]
    search_fields = ["title", "owner__username"]
    inlines = [LaneInline]


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    """US dollars per million tokens. A run is priced when it runs: editing a price changes
    the cost of later runs, not of those already recorded."""

    list_display = [
        "model",
        "input_per_million",
        "cached_input_per_million",
        "output_per_million",
        "updated_at",
    ]
    list_editable = ["input_per_million", "cached_input_per_million", "output_per_million"]
    search_fields = ["model"]
