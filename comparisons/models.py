from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from runs.models import Run
from sandboxes.models import Manifest, Preview, SandboxSession


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
