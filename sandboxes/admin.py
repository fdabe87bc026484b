from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from . import services
from .models import Manifest, ManifestEntry, Preview, SandboxSession


class ManifestEntryInline(admin.TabularInline):
    model = ManifestEntry
    extra = 0
    fields = ["path", "content"]


@admin.register(Manifest)
class ManifestAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "is_builtin", "file_count", "updated_at"]
    list_filter = ["is_builtin"]
    search_fields = ["name", "description", "owner__username"]
    inlines = [ManifestEntryInline]

    @admin.display(description="files")
    def file_count(self, obj):
        return obj.entries.count()


@admin.register(SandboxSession)
class SandboxSessionAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "backend", "status", "age", "manifest"]
    list_filter = ["status", "backend", "owner"]
    search_fields = ["name", "owner__username", "last_error"]
    # Status and backend change through the actions (and the services), never by hand.
    readonly_fields = [
        "status",
        "backend",
        "sdk_state_summary",
        "created_at",
        "updated_at",
        "stopped_at",
    ]
    exclude = ["sdk_state"]
    list_select_related = ["owner", "manifest"]
    actions = ["shut_down", "pause", "resume"]

    def _apply(self, request, queryset, service, verb: str) -> None:
        done, failed = 0, []
        for session in queryset:
            try:
                async_to_sync(service)(session=session)
                done += 1
            except Exception as error:
                failed.append(f"{session.name}: {error}")
        self.message_user(request, f"{verb} {done} sandbox{pluralize(done, 'es')}.")
        for reason in failed:
            self.message_user(request, reason, level=messages.ERROR)

    @admin.action(description="Shut down selected sandboxes")
    def shut_down(self, request, queryset):
        self._apply(
            request, queryset.exclude(status="stopped"), services.session_shutdown, "Shut down"
        )

    @admin.action(description="Pause selected sandboxes")
    def pause(self, request, queryset):
        self._apply(request, queryset.filter(status="running"), services.session_pause, "Paused")

    @admin.action(description="Resume selected sandboxes")
    def resume(self, request, queryset):
        self._apply(request, queryset.filter(status="paused"), services.session_resume, "Resumed")

    @admin.display(description="age")
    def age(self, obj):
        return timesince(obj.created_at, timezone.now())

    @admin.display(description="SDK state")
    def sdk_state_summary(self, obj):
        # The stored state may hold provider settings; show only what identifies the sandbox.
        state = obj.sdk_state or {}
        return format_html(
            "type <code>{}</code>, session <code>{}</code>, workspace <code>{}</code>",
            state.get("type", "—"),
            state.get("session_id", "—"),
            obj.workspace_root or "—",
        )


@admin.register(Preview)
class PreviewAdmin(admin.ModelAdmin):
    list_display = ["id", "session", "status", "port", "host_port", "created_at"]
    list_filter = ["status"]
    search_fields = ["session__name", "session__owner__username", "error"]
    list_select_related = ["session"]
