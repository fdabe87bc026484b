from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse


class ManifestQuerySet(models.QuerySet):
    def visible_to(self, user) -> ManifestQuerySet:
        """Built-in starters are shared read-only; everything else belongs to its owner."""
        return self.filter(Q(is_builtin=True) | Q(owner=user))


class Manifest(models.Model):
    """A named starter file set a sandbox session is created from."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, blank=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    is_builtin = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ManifestQuerySet.as_manager()

    class Meta:
        ordering = ["-is_builtin", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug"], condition=Q(is_builtin=True), name="unique_builtin_slug"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("manifest_detail", args=[self.pk])

    def to_sdk(self):
        """The SDK Manifest this file set describes."""
        from agents.sandbox import Manifest as SdkManifest
        from agents.sandbox.entries import File

        return SdkManifest(
            entries={
                entry.path: File(content=entry.content.encode()) for entry in self.entries.all()
            }
        )


class ManifestEntry(models.Model):
    manifest = models.ForeignKey(Manifest, related_name="entries", on_delete=models.CASCADE)
    path = models.CharField(max_length=500)
    content = models.TextField(blank=True)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["manifest", "path"], name="unique_manifest_path")
        ]
        verbose_name_plural = "manifest entries"

    def __str__(self) -> str:
        return self.path

    @property
    def size(self) -> int:
        return len(self.content.encode())


class SandboxSession(models.Model):
    """One sandbox: where it runs, what it started from, and the SDK state to resume it."""

    class Backend(models.TextChoices):
        LOCAL = "local", "Local (this machine, no isolation)"
        E2B = "e2b", "E2B (cloud)"

    class Status(models.TextChoices):
        CREATING = "creating", "Creating"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        STOPPED = "stopped", "Stopped"
        FAILED = "failed", "Failed"

    LIVE_STATUSES = (Status.CREATING, Status.RUNNING, Status.PAUSED)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=120)
    manifest = models.ForeignKey(Manifest, null=True, blank=True, on_delete=models.SET_NULL)
    backend = models.CharField(max_length=20, choices=Backend.choices, default=Backend.LOCAL)
    # Non-secret backend options only (sandbox type, template, timeout, ports...).
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATING)
    # client.serialize_session_state(...) after the last stop(): what a resume starts from.
    sdk_state = models.JSONField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "status"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_backend_display()})"

    def get_absolute_url(self) -> str:
        return reverse("session_detail", args=[self.pk])

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES

    @property
    def workspace_root(self) -> str:
        return ((self.sdk_state or {}).get("manifest") or {}).get("root", "")
