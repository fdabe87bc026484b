from django.contrib import admin

from .models import Comparison, ShareLink, Snapshot, Version


class VersionInline(admin.TabularInline):
    model = Version
    extra = 0
    fields = ["label", "stage", "session", "run", "preview", "error"]
    readonly_fields = fields


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "created_at"]
    search_fields = ["title", "owner__username"]
    inlines = [VersionInline]


class SnapshotInline(admin.TabularInline):
    # Built by the dashboard (comparisons.snapshots); deleting one here deletes its files.
    model = Snapshot
    extra = 0
    fields = ["version", "preview", "status", "size", "built_at", "error"]
    readonly_fields = fields
    can_delete = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    inlines = [SnapshotInline]
    # The salt is half of the token's derivation: never shown.
    list_display = ["id", "owner", "comparison", "preview", "expires_at", "revoked_at"]
    list_filter = ["revoked_at"]
    exclude = ["salt"]
