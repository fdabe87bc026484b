from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from sandboxes.models import SandboxSession

DEMO_MODEL = "demo"

CAPABILITY_CHOICES = [
    ("shell", "Shell (exec_command, write_stdin)"),
    ("filesystem", "Filesystem (apply_patch, view_image)"),
]
TOOL_CHOICE_CHOICES = [
    ("auto", "auto"),
    ("required", "required"),
    ("none", "none"),
]


class AgentConfig(models.Model):
    """A reusable agent preset. A run freezes a copy of it (see Run.config)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=120)
    model = models.CharField(max_length=200, default=DEMO_MODEL)
    instructions = models.TextField(blank=True)
    developer_instructions = models.TextField(blank=True)
    capabilities = models.JSONField(default=list, blank=True)
    tool_choice = models.CharField(max_length=40, default="auto", blank=True)
    max_turns = models.PositiveIntegerField(default=20)
    model_settings = models.JSONField(default=dict, blank=True)
    # [{"name", "kind": "http", "url", "headers": sealed}] or [{"name", "kind": "e2b",
    # "settings": sealed}]: secrets sealed (runs.secrets), never stored or shown in clear.
    mcp_servers = models.JSONField(default=list, blank=True)
    preset = models.SlugField(max_length=60, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def frozen(self) -> dict:
        return {
            "name": self.name,
            "model": self.model,
            "instructions": self.instructions,
            "developer_instructions": self.developer_instructions,
            "capabilities": list(self.capabilities),
            "tool_choice": self.tool_choice,
            "max_turns": self.max_turns,
            "model_settings": dict(self.model_settings),
            "mcp_servers": list(self.mcp_servers),
        }


class RunQuerySet(models.QuerySet):
    def active(self) -> RunQuerySet:
        """Queued or running: what holds a sandbox (one rule, used everywhere)."""
        return self.filter(status__in=Run.ACTIVE_STATUSES)

    def on_session(self, session) -> RunQuerySet:
        return self.filter(session=session)


class Run(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        INTERRUPTED = "interrupted", "Interrupted"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    # No session: an agent without a sandbox (a lane group's coordinator).
    session = models.ForeignKey(
        SandboxSession, null=True, blank=True, related_name="runs", on_delete=models.CASCADE
    )
    lane_group = models.ForeignKey(
        "LaneGroup", null=True, blank=True, related_name="runs", on_delete=models.CASCADE
    )
    lane_label = models.CharField(max_length=80, blank=True)
    is_coordinator = models.BooleanField(default=False)
    agent_config = models.ForeignKey(AgentConfig, null=True, blank=True, on_delete=models.SET_NULL)
    # The agent exactly as it ran; later edits to the preset do not rewrite history.
    config = models.JSONField(default=dict)
    prompt = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    final_output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    requests = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"Run #{self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("run_detail", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def group_name(self) -> str:
        return f"run-{self.pk}"

    @property
    def duration(self):
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    def usage(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
        }

    def state_payload(self) -> dict:
        """Everything the run's summary shows; stored as a `state` event at each change."""
        return {
            "status": self.status,
            "final_output": self.final_output,
            "error": self.error,
            "usage": self.usage(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


class LaneGroup(models.Model):
    """Lanes (runs, each in its own sandbox) working in parallel, then a coordinator run that
    reads every lane's outcome and writes one synthesis."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    title = models.CharField(max_length=200)
    task = models.TextField(help_text="What the coordinator is asked to synthesise.")
    preset = models.SlugField(max_length=60, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("lane_group_detail", args=[self.pk])


class RunEvent(models.Model):
    """One entry of a run's event log, the source of truth for live pages and replays."""

    run = models.ForeignKey(Run, related_name="events", on_delete=models.CASCADE)
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="unique_run_seq")]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq} {self.kind}"
