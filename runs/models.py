from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from lib.secrets import unseal
from sandboxes.models import SandboxSession

DEMO_MODEL = "demo"
TRACE_URL = "https://platform.openai.com/traces/trace?trace_id="

CAPABILITY_CHOICES = [
    ("shell", "Shell (exec_command, write_stdin)"),
    ("filesystem", "Filesystem (apply_patch, view_image)"),
]
# "Ask before": the kinds of tool call a person approves before they run (config["approvals"]).
APPROVAL_CHOICES = [
    ("shell", "shell commands"),
    ("patch", "patches"),
    ("mcp", "MCP tool calls"),
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
    # Kinds of tool call that wait for a person's approval: a subset of APPROVAL_CHOICES' keys.
    approvals = models.JSONField(default=list, blank=True)
    # A JSON schema the agent's final output must match (runs/structured.py); None: free text.
    output_schema = models.JSONField(null=True, blank=True)
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
            "approvals": list(self.approvals),
            "output_schema": self.output_schema,
        }


class Thread(models.Model):
    """A conversation on a sandbox session. Its runs are its turns; `history` is the SDK's input
    list after the last completed turn (`result.to_input_list()`), which the next turn continues
    from. Sealed at rest: tool outputs hold whatever a command printed."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    session = models.ForeignKey(SandboxSession, related_name="threads", on_delete=models.CASCADE)
    history = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Conversation #{self.pk}"

    def get_absolute_url(self) -> str:
        return f"{self.session.get_absolute_url()}?thread={self.pk}"

    def history_items(self) -> list:
        return unseal(self.history) if self.history else []


class RunQuerySet(models.QuerySet):
    def active(self) -> RunQuerySet:
        """Queued, running or awaiting approval: unfinished, so it holds its session (no other
        run, pause or new turn starts there). One rule, used everywhere."""
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
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        TIMED_OUT = "timed_out", "Timed out"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING, Status.AWAITING_APPROVAL)
    USAGE_FIELDS = (
        "requests",
        "input_tokens",
        "cached_input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "total_tokens",
    )

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
    # An agent-led group's lane call: the lane it ran in, the coordinator run that called it and
    # the id of that tool call.
    lane = models.ForeignKey(
        "Lane", null=True, blank=True, related_name="calls", on_delete=models.CASCADE
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, related_name="lane_calls", on_delete=models.CASCADE
    )
    tool_call_id = models.CharField(max_length=200, blank=True)
    # A turn of a conversation (None: a one-shot run, e.g. a lane or a coordinator).
    thread = models.ForeignKey(
        Thread, null=True, blank=True, related_name="runs", on_delete=models.CASCADE
    )
    turn = models.PositiveIntegerField(default=0)
    agent_config = models.ForeignKey(AgentConfig, null=True, blank=True, on_delete=models.SET_NULL)
    # The agent exactly as it ran; later edits to the preset do not rewrite history.
    config = models.JSONField(default=dict)
    prompt = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    final_output = models.TextField(blank=True)
    # The final output as data, when the agent declared an output schema (validated against it).
    structured_output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    requests = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    # Of the input, what the provider served from its prompt cache (billed at the cached price).
    cached_input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    # Of the output, the model's hidden reasoning (billed as output).
    reasoning_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    # US dollars at the model's price when it ran (runs.pricing); None: no price for its model.
    cost = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    # The OpenAI trace of this run, when tracing to OpenAI is on (settings.AGENTS_TRACING).
    trace_id = models.CharField(max_length=64, blank=True)
    # Read from an exported file (runs.export): a record to read, never executed or continued.
    imported = models.BooleanField(default=False)
    cancel_requested = models.BooleanField(default=False)
    # While awaiting approval: the SDK's RunState (`to_state().to_json()`), sealed, and since when.
    paused_state = models.TextField(blank=True)
    awaiting_since = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # "<machine>/<pid>:<start time>" of the process executing it (runs.executor.this_executor).
    executor = models.CharField(max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"]),
            # The runs page: one user's runs, newest first.
            models.Index(fields=["owner", "-created_at"], name="run_owner_created"),
        ]

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

    @property
    def model(self) -> str:
        return self.config.get("model", "")

    def usage(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.USAGE_FIELDS}

    @property
    def trace_url(self) -> str:
        return f"{TRACE_URL}{self.trace_id}" if self.trace_id else ""

    def state_payload(self) -> dict:
        """Everything the run's summary shows; stored as a `state` event at each change."""
        payload = {
            "status": self.status,
            "label": self.get_status_display(),
            "final_output": self.final_output,
            "structured": self.structured_output,
            "error": self.error,
            "usage": self.usage(),
            "cost": None if self.cost is None else str(self.cost),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }
        if self.status == self.Status.AWAITING_APPROVAL:
            payload["approval_timeout_minutes"] = settings.RUN_APPROVAL_TIMEOUT_SECONDS // 60
        return payload


class LaneGroup(models.Model):
    """Lanes, each in its own sandbox, and a coordinator (no sandbox).

    Fixed fan-out: every lane runs its prompt once, in parallel, then the coordinator reads
    every outcome and writes one synthesis. Agent-led: the coordinator gets one tool per lane
    (runs/lane_tools.py) and decides which lanes to call, with what input and how often; each
    call is a run of its own in that lane's sandbox."""

    class Mode(models.TextChoices):
        AGENT = "agent", "Agent-led (the coordinator calls the lanes as tools)"
        FIXED = "fixed", "Fixed fan-out (every lane once, then the coordinator)"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    title = models.CharField(max_length=200)
    task = models.TextField(help_text="What the coordinator is asked to synthesise.")
    preset = models.SlugField(max_length=60, blank=True)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.FIXED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("lane_group_detail", args=[self.pk])


class Lane(models.Model):
    """A lane of an agent-led group: a tool the coordinator calls, bound to one sandbox.

    Its calls are runs (Run.lane); calls to one lane run one after another (one sandbox)."""

    group = models.ForeignKey(LaneGroup, related_name="lanes", on_delete=models.CASCADE)
    position = models.PositiveIntegerField(default=0)
    label = models.CharField(max_length=80)
    tool_name = models.CharField(max_length=64)
    description = models.TextField()
    session = models.ForeignKey(SandboxSession, related_name="lanes", on_delete=models.CASCADE)
    # The lane's agent, frozen like a run's.
    config = models.JSONField(default=dict)
    # After a call succeeds, serve the sandbox's app (a homepage direction) if not served yet.
    serves_preview = models.BooleanField(default=False)

    class Meta:
        ordering = ["group", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["group", "tool_name"], name="unique_lane_tool_name")
        ]

    def __str__(self) -> str:
        return f"{self.group}: {self.label}"


class Approval(models.Model):
    """A tool call waiting for (or given) a person's decision, one per call of a paused run."""

    class Decision(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"

    class Kind(models.TextChoices):
        SHELL = "shell", "Shell command"
        STDIN = "stdin", "Input to a running command"
        PATCH = "patch", "Patch"
        MCP = "mcp", "MCP tool call"
        TOOL = "tool", "Tool call"

    PLURALS = {
        Kind.SHELL: "shell commands",
        Kind.STDIN: "inputs to running commands",
        Kind.PATCH: "patches",
        Kind.MCP: "MCP tool calls",
        Kind.TOOL: "tool calls",
    }

    run = models.ForeignKey(Run, related_name="approvals", on_delete=models.CASCADE)
    call_id = models.CharField(max_length=200)
    tool = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # What the person decides on, exactly as the model asked: {"command"} / {"patch"} /
    # {"arguments", "server"}.
    detail = models.JSONField(default=dict)
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    # Approved with "all of this kind for this run" (the SDK's always_approve).
    always = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    requested_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["run", "call_id"], name="unique_run_call_approval")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of run {self.run_id} ({self.decision})"

    def payload(self) -> dict:
        """What an approval event shows."""
        return {
            "approval": self.pk,
            "call": self.call_id,
            "tool": self.tool,
            "kind": self.kind,
            "kind_label": self.get_kind_display(),
            "kind_plural": self.PLURALS.get(self.kind, "calls"),
            "requested_at": self.requested_at.isoformat() if self.requested_at else None,
            **self.detail,
        }

    def decision_payload(self, *, by: str = "", note: str = "") -> dict:
        """What an approval_decided event shows: the call, the decision, who and why."""
        return {
            **self.payload(),
            "decision": self.decision,
            "by": by,
            "reason": self.reason,
            "always": self.always,
            "note": note,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }


class RunImage(models.Model):
    """An image a tool returned during a run (runs.images), served to the run's owner."""

    run = models.ForeignKey(Run, related_name="images", on_delete=models.CASCADE)
    image = models.FileField(upload_to="run-images/%Y/%m/")
    media_type = models.CharField(max_length=60)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Image {self.pk} of run {self.run_id}"

    def get_absolute_url(self) -> str:
        return reverse("run_image", args=[self.pk])


@receiver(post_delete, sender=RunImage)
def _remove_image_file(sender, instance: RunImage, **kwargs) -> None:
    """A deleted image (its run's deletion included) takes its file along."""
    if instance.image:
        instance.image.delete(save=False)


class RunEvent(models.Model):
    """One entry of a run's event log, the source of truth for live pages and replays."""

    # No index of its own: unique_run_seq's (run, seq) serves every lookup by run, and one
    # index fewer is a page fewer written per event stored.
    run = models.ForeignKey(Run, related_name="events", on_delete=models.CASCADE, db_index=False)
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="unique_run_seq")]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq} {self.kind}"


class ModelPrice(models.Model):
    """What a model costs, in US dollars per million tokens (editable in the admin). A run of a
    model with no row here has no cost: the pages say "no price" rather than guess."""

    model = models.CharField(max_length=200, unique=True)
    input_per_million = models.DecimalField(max_digits=10, decimal_places=4)
    cached_input_per_million = models.DecimalField(max_digits=10, decimal_places=4)
    output_per_million = models.DecimalField(max_digits=10, decimal_places=4)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model"]

    def __str__(self) -> str:
        return f"{self.model}: ${self.input_per_million} in / ${self.output_per_million} out per 1M"

    def cost(self, usage: dict) -> Decimal:
        """Cached input at the cached price, the rest of the input at the input price; output
        (reasoning included: it is billed as output) at the output price."""
        cached = min(usage.get("cached_input_tokens", 0), usage.get("input_tokens", 0))
        fresh = usage.get("input_tokens", 0) - cached
        dollars = (
            fresh * self.input_per_million
            + cached * self.cached_input_per_million
            + usage.get("output_tokens", 0) * self.output_per_million
        ) / Decimal(1_000_000)
        return dollars.quantize(Decimal("0.000001"))


class Worker(models.Model):
    """A live `manage.py worker` process: it beats every RUN_HEARTBEAT_SECONDS. One silent for
    RUN_STALE_SECONDS was killed; the reaper fails the task rows it held (runs/reaper.py)."""

    worker_id = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    slots = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    beat_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["started_at"]

    def __str__(self) -> str:
        return f"{self.worker_id} on {self.host} (pid {self.pid})"
