from django.contrib import admin

from .models import AgentConfig, LaneGroup, Run, RunEvent


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


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "session", "status", "total_tokens", "created_at"]
    list_filter = ["status"]
    search_fields = ["prompt", "owner__username", "final_output", "error"]
    readonly_fields = ["heartbeat_at", "started_at", "finished_at", "created_at"]
    list_select_related = ["owner", "session"]
    inlines = [RunEventInline]


@admin.register(LaneGroup)
class LaneGroupAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "preset", "created_at"]
    search_fields = ["title", "owner__username"]
