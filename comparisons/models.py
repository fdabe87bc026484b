from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from runs.models import Run
from sandboxes.models import Manifest, Preview, SandboxSession, Screenshot


class Comparison(models.Model):
    """Versions of one starter built by one agent config with different prompts."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    title = models.CharField(max_length=200)
    manifest = models.ForeignKey(Manifest, null=True, on_delete=models.SET_NULL)
    config = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "sandboxes_comparison"  # created by sandboxes before this app existed
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("comparison_detail", args=[self.pk])


class Version(models.Model):
    """One prompt of a comparison: its own sandbox, run and preview."""

    class Stage(models.TextChoices):
        SANDBOX = "sandbox", "Creating sandbox"
        RUNNING = "running", "Agent running"
        PREVIEW = "preview", "Starting preview"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    comparison = models.ForeignKey(Comparison, related_name="versions", on_delete=models.CASCADE)
    label = models.CharField(max_length=80)
    prompt = models.TextField()
    position = models.PositiveIntegerField(default=0)
    session = models.ForeignKey(SandboxSession, null=True, on_delete=models.SET_NULL)
    run = models.ForeignKey(Run, null=True, on_delete=models.SET_NULL)
    preview = models.ForeignKey(Preview, null=True, on_delete=models.SET_NULL)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.SANDBOX)
    error = models.TextField(blank=True)
    files_changed = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "sandboxes_version"
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return f"{self.comparison}: {self.label}"

    @property
    def in_progress(self) -> bool:
        return self.stage not in (self.Stage.READY, self.Stage.FAILED)

    @property
    def badge(self) -> tuple[str, str]:
        """The stage badge (its CSS key, its words). A built version shows its preview's own
        state: once the dev server or the sandbox stopped, it reads "Preview offline" as its
        frame does, never a green "Ready" beside an empty frame."""
        if self.stage == self.Stage.READY and (
            self.preview is None or self.preview.status != Preview.Status.READY
        ):
            return "stopped", "Preview offline"
        return self.stage, self.get_stage_display()


class ShareLink(models.Model):
    """A read-only, expiring, revocable link to a comparison or a single preview.

    The token is never stored: it is an HMAC (keyed by SECRET_KEY) of the link's id and a random
    salt, so the database alone cannot produce a working link, yet the owner can copy it again.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    comparison = models.ForeignKey(
        Comparison, null=True, blank=True, related_name="shares", on_delete=models.CASCADE
    )
    preview = models.ForeignKey(
        Preview, null=True, blank=True, related_name="shares", on_delete=models.CASCADE
    )
    # A run's log, timeline and result; or a whole conversation's turns (pinned: those it had).
    run = models.ForeignKey(
        "runs.Run", null=True, blank=True, related_name="shares", on_delete=models.CASCADE
    )
    thread = models.ForeignKey(
        "runs.Thread", null=True, blank=True, related_name="shares", on_delete=models.CASCADE
    )
    salt = models.CharField(max_length=64, editable=False)
    # What the link shows, pinned when it was made (comparisons.shares.share_pins): per shared
    # version (or the preview), its run, the agent's summary and the files it changed. Runs
    # made afterwards do not replace them.
    pinned = models.JSONField(default=list, blank=True, editable=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "sandboxes_sharelink"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(comparison__isnull=False)
                | Q(preview__isnull=False)
                | Q(run__isnull=False)
                | Q(thread__isnull=False),
                name="share_has_target",
            )
        ]

    def __str__(self) -> str:
        return f"Share {self.pk}"

    @property
    def target(self):
        return self.comparison or self.preview or self.run or self.thread

    @property
    def is_valid(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class Snapshot(models.Model):
    """A share link's production build of one shared preview, kept by the dashboard so the
    link shows the app after its sandbox is gone (comparisons.snapshots).

    `status` is the latest build's; the files served are the last *successful* build's
    (`site_prefix`, `files`, `built_at`), so a refresh that fails keeps the previous one.
    """

    class Status(models.TextChoices):
        BUILDING = "building", "Building"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    share = models.ForeignKey(ShareLink, related_name="snapshots", on_delete=models.CASCADE)
    version = models.ForeignKey(Version, null=True, blank=True, on_delete=models.SET_NULL)
    preview = models.ForeignKey(Preview, null=True, blank=True, on_delete=models.SET_NULL)
    # The run whose result was built, and the version's transcript summary then.
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL)
    summary = models.TextField(blank=True)
    # The app as it looked when it was built (sandboxes.screenshots), if one could be taken.
    screenshot = models.ForeignKey(
        Screenshot, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.BUILDING)
    error = models.TextField(blank=True)
    log = models.TextField(blank=True)
    # Where the served files are in the "snapshots" storage, and path -> size of each.
    site_prefix = models.CharField(max_length=200, blank=True, editable=False)
    files = models.JSONField(default=dict, blank=True, editable=False)
    size = models.PositiveBigIntegerField(default=0)
    requested_at = models.DateTimeField(default=timezone.now)
    built_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["share", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["share", "preview"], name="one_snapshot_per_preview")
        ]

    def __str__(self) -> str:
        return f"Snapshot {self.pk} of {self.share}"

    @property
    def has_site(self) -> bool:
        return bool(self.site_prefix and self.built_at)
