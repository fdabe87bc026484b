from __future__ import annotations

import base64

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.urls import reverse

from lib.secrets import is_sealed, unseal

DEFAULT_BUILD_COMMAND = "npm run build"
DEFAULT_BUILD_OUTPUT = "dist"


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
    # How a share link's snapshot builds the app for production in the sandbox, and the
    # folder (relative to the workspace) its static files land in. Blank: the defaults.
    build_command = models.CharField(
        max_length=500, blank=True, help_text=f"Blank: {DEFAULT_BUILD_COMMAND!r}."
    )
    build_output = models.CharField(
        max_length=200, blank=True, help_text=f"Blank: {DEFAULT_BUILD_OUTPUT!r}."
    )
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

    @property
    def build_settings(self) -> tuple[str, str]:
        """(command, output folder) of its production build, defaults filled in."""
        return (
            self.build_command.strip() or DEFAULT_BUILD_COMMAND,
            self.build_output.strip().strip("/") or DEFAULT_BUILD_OUTPUT,
        )

    def file_contents(self) -> dict[str, bytes]:
        """Every file of the set: path -> bytes."""
        return {entry.path: entry.data for entry in self.entries.all()}

    def to_sdk(self):
        """The SDK Manifest this file set describes."""
        from agents.sandbox import Manifest as SdkManifest
        from agents.sandbox.entries import File

        # Binary files stay out of the SDK manifest (they break its state serialization);
        # sandboxes.services writes them after the sandbox starts.
        return SdkManifest(
            entries={
                entry.path: File(content=entry.content.encode())
                for entry in self.entries.all()
                if not entry.is_binary
            }
        )


class ManifestEntry(models.Model):
    manifest = models.ForeignKey(Manifest, related_name="entries", on_delete=models.CASCADE)
    path = models.CharField(max_length=500)
    # Text as is; binary files base64-encoded (see sandboxes.manifests).
    content = models.TextField(blank=True)
    is_binary = models.BooleanField(default=False)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["manifest", "path"], name="unique_manifest_path")
        ]
        verbose_name_plural = "manifest entries"

    def __str__(self) -> str:
        return self.path

    @property
    def data(self) -> bytes:
        return base64.b64decode(self.content) if self.is_binary else self.content.encode()

    @property
    def size(self) -> int:
        return len(self.data)


class SandboxSession(models.Model):
    """One sandbox: where it runs, what it started from, and the SDK state to resume it."""

    class Backend(models.TextChoices):
        LOCAL = "local", "Local (this machine)"
        E2B = "e2b", "E2B (cloud)"
        DOCKER = "docker", "Docker (this machine's engine)"

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
    # The machine (settings.HOST_ID) that holds a local sandbox's folder, processes and
    # previews' ports; only processes there can use them (sandboxes/hosts.py).
    host = models.CharField(max_length=255, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # When the provider stops the sandbox unless extended (E2B's timeout), if it has one.
    timeout_at = models.DateTimeField(null=True, blank=True)

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
    def is_local(self) -> bool:
        """On this machine's local backend: its workspace is a folder here."""
        return self.backend == self.Backend.LOCAL

    @property
    def elsewhere(self) -> bool:
        """A local sandbox of another machine: its folder, processes and ports are not here."""
        from django.conf import settings

        return self.is_local and bool(self.host) and self.host != settings.HOST_ID

    @property
    def not_running_note(self) -> str:
        """What a sandbox that is not running allows, in the one wording every part of its page
        uses (conversation, preview, files): paused ones resume, ended ones are done."""
        if self.status == self.Status.PAUSED:
            return "This sandbox is paused: resume it to run agents, previews and commands again."
        if self.status == self.Status.CREATING:
            return "The sandbox is being created; this appears as soon as it runs."
        return (
            f"This sandbox is {self.get_status_display().lower()}; open a new one from its "
            "starter to work again."
        )

    @property
    def seconds_left(self) -> int | None:
        if self.timeout_at is None or not self.is_live:
            return None
        from django.utils import timezone

        return max(0, int((self.timeout_at - timezone.now()).total_seconds()))

    @property
    def minutes_left(self) -> int | None:
        seconds = self.seconds_left
        return None if seconds is None else -(-seconds // 60)

    @property
    def workspace_root(self) -> str:
        return ((self.sdk_state or {}).get("manifest") or {}).get("root", "")

    # Options sealed at rest because they hold keys (E2B envs and MCP gateway settings).
    SEALED_OPTIONS = ("envs", "mcp")

    def secret_values(self) -> set[str]:
        """Every secret value this session's options hold, for redacting what agents print."""
        found: set[str] = set()

        def collect(value) -> None:
            if isinstance(value, str):
                found.add(value)
            elif isinstance(value, dict):
                for item in value.values():
                    collect(item)
            elif isinstance(value, list):
                for item in value:
                    collect(item)

        for name in self.SEALED_OPTIONS:
            if is_sealed(sealed := self.options.get(name)):
                collect(unseal(sealed))
        return found


class PreviewQuerySet(models.QuerySet):
    def active(self) -> PreviewQuerySet:
        """Starting or ready: a dev server that is (or will be) running."""
        return self.filter(status__in=Preview.ACTIVE_STATUSES)


class Preview(models.Model):
    """A dev server running in a session's sandbox, served through the dashboard's proxy."""

    class Status(models.TextChoices):
        STARTING = "starting", "Starting"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        STOPPED = "stopped", "Stopped"

    ACTIVE_STATUSES = (Status.STARTING, Status.READY)
    DEFAULT_PORT = 4173
    DEFAULT_COMMAND = (
        "npm install --prefer-offline --no-audit --no-fund && "
        "npm run dev -- --host {host} --port {port} --strictPort"
    )

    session = models.ForeignKey(SandboxSession, related_name="previews", on_delete=models.CASCADE)
    port = models.PositiveIntegerField(default=DEFAULT_PORT, help_text="Port inside the sandbox.")
    # Local sandboxes share this machine's ports: each preview gets its own host port.
    host_port = models.PositiveIntegerField(null=True, blank=True)
    command = models.TextField(default=DEFAULT_COMMAND)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.STARTING)
    upstream_url = models.CharField(max_length=500, blank=True)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    # Process group of a local preview, so any process on this machine can stop it.
    pid = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    objects = PreviewQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["host_port"],
                condition=Q(status__in=["starting", "ready"]),
                name="unique_active_host_port",
            )
        ]

    def __str__(self) -> str:
        return f"Preview {self.pk} of {self.session}"

    def get_absolute_url(self) -> str:
        return reverse("preview_detail", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def group_name(self) -> str:
        return f"preview-{self.pk}"

    @property
    def is_serving(self) -> bool:
        """Ready, in a sandbox that has not passed its provider's timeout (an expired E2B
        sandbox answers its URL with the provider's own error page)."""
        return (
            self.status == self.Status.READY
            and bool(self.upstream_url)
            and self.session.seconds_left != 0
        )

    @property
    def boot_seconds(self) -> float | None:
        if self.ready_at and self.started_at:
            return (self.ready_at - self.started_at).total_seconds()
        return None


class Screenshot(models.Model):
    """A picture of a preview, taken server-side by headless Chromium through the preview
    proxy (sandboxes.screenshots). Its file is served to the session's owner only (and to the
    holders of a share link that shows the session)."""

    session = models.ForeignKey(
        SandboxSession, related_name="screenshots", on_delete=models.CASCADE
    )
    preview = models.ForeignKey(
        Preview, null=True, blank=True, related_name="screenshots", on_delete=models.SET_NULL
    )
    image = models.FileField(upload_to="screenshots/%Y/%m/")
    # The page photographed, on the preview's origin (never a grant).
    path = models.CharField(max_length=500, default="/")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Screenshot {self.pk} of {self.session}"

    def get_absolute_url(self) -> str:
        return reverse("screenshot_image", args=[self.pk])


@receiver(post_delete, sender=Screenshot)
def _remove_screenshot_file(sender, instance: Screenshot, **kwargs) -> None:
    """A deleted screenshot (its session's deletion included) takes its file along."""
    if instance.image:
        instance.image.delete(save=False)
