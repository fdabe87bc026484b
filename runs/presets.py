"""Ready-to-click presets from the SDK's examples. They create ordinary agent configs (editable
on the Agents page) and use ordinary built-in manifests."""

from __future__ import annotations

from django.db import transaction

from lib.secrets import seal
from sandboxes.models import Manifest, SandboxSession

from .lanes import LaneSpec, lane_group_create
from .mcp import builtin_server_spec, e2b_server_spec, http_server_spec
from .models import AgentConfig, LaneGroup, Run

CODE_REVIEW = "fullstack-code-review"
DEEP_RESEARCH = "deep-research"

REVIEW_RULES = (
    "Review only; do not edit files. Read the code with shell commands, then answer with a "
    "list of findings, most severe first, each with file:line, the problem and the fix."
)
CODE_REVIEW_LANES = [
    (
        "Frontend",
        "Frontend reviewer",
        "You review React front ends for correctness, security (XSS), accessibility and "
        "performance. " + REVIEW_RULES,
        "Review the front end in frontend/ (App.jsx, api.js): bugs, XSS, effects, keys, "
        "URL building.",
    ),
    (
        "Backend",
        "Backend reviewer",
        "You review Python web back ends for security (injection, secrets), data handling "
        "and error paths. " + REVIEW_RULES,
        "Review the Flask API in backend/ (app.py, db.py): SQL, transactions, secrets, debug "
        "mode, input validation.",
    ),
    (
        "Repository",
        "Repository tree reviewer",
        "You review a repository as a whole: layout, docs, changelog against code, ignored "
        "files, dependency pinning, what a new contributor trips over. " + REVIEW_RULES,
        "Review the repository tree: README and CHANGELOG against the code, .gitignore, "
        "dependency files, structure.",
    ),
]
COORDINATOR = (
    "Review coordinator",
    "You merge code review findings from several reviewers into one prioritised report: "
    "deduplicate, order by severity, and say which reviewers failed to report.",
)


RESEARCHER_INSTRUCTIONS = (
    "You research questions with the MCP tools you have: search first, then fetch the most "
    "relevant documents and read them. Keep notes in notes.md in your sandbox. Answer with a "
    "sourced summary: each claim followed by the number of its source, then a list of the "
    "sources you fetched (title and URL). Cite only what you fetched."
)


def _config(owner, preset: str, name: str, model: str, instructions: str, **extra) -> AgentConfig:
    config, _ = AgentConfig.objects.get_or_create(
        owner=owner,
        preset=preset,
        name=name,
        defaults={
            "model": model,
            "instructions": instructions,
            "capabilities": ["shell"],
            "max_turns": 20,
            **extra,
        },
    )
    return config


@transaction.atomic
def launch_code_review(*, owner, model: str, backend: str = "local") -> LaneGroup:
    """Three review lanes over the sample repo, and a coordinator that merges their findings."""
    manifest = Manifest.objects.get(slug="fullstack-sample", is_builtin=True)
    lanes = []
    for label, name, instructions, prompt in CODE_REVIEW_LANES:
        config = _config(owner, CODE_REVIEW, name, model, instructions)
        frozen = config.frozen() | {"model": model}
        lanes.append(
            LaneSpec(label=label, config=frozen, prompt=prompt, manifest=manifest, backend=backend)
        )
    name, instructions = COORDINATOR
    coordinator = _config(owner, CODE_REVIEW, name, model, instructions, capabilities=[])
    return lane_group_create(
        owner=owner,
        title="Full-stack code review",
        task="Write one prioritised code review of the notes app from the lanes' findings.",
        lanes=lanes,
        coordinator=coordinator.frozen() | {"model": model},
        preset=CODE_REVIEW,
    )


@transaction.atomic
def launch_deep_research(
    *,
    owner,
    model: str,
    question: str,
    mcp_url: str = "",
    mcp_headers: dict[str, str] | None = None,
    e2b_settings: dict[str, dict[str, str]] | None = None,
    builtin_docs: bool | None = None,
) -> Run:
    """A research agent with MCP search/browse servers, working in a notes sandbox.

    `builtin_docs`: attach the built-in offline docs server (search, fetch over the bundled
    corpus); by default when no other server is given, so the preset runs with no key."""
    from .mcp import e2b_gateway_settings
    from .tasks import run_after_session_start_task

    servers = []
    if builtin_docs or (builtin_docs is None and not mcp_url and not e2b_settings):
        servers.append(builtin_server_spec())
    if mcp_url:
        servers.append(http_server_spec(name="search", url=mcp_url, headers=mcp_headers or {}))
    for name, settings in (e2b_settings or {}).items():
        servers.append(e2b_server_spec(name=name, settings=settings))
    config = _config(
        owner,
        DEEP_RESEARCH,
        "Deep researcher",
        model,
        RESEARCHER_INSTRUCTIONS,
        capabilities=["shell", "filesystem"],
    )
    config.model = model
    config.mcp_servers = servers
    config.instructions = RESEARCHER_INSTRUCTIONS
    config.save(update_fields=["model", "mcp_servers", "instructions"])
    backend = SandboxSession.Backend.E2B if e2b_settings else SandboxSession.Backend.LOCAL
    options: dict = {"exposed_ports": []}
    if gateway := e2b_gateway_settings(servers):
        options["mcp"] = seal(gateway)
    session = SandboxSession.objects.create(
        owner=owner,
        manifest=Manifest.objects.get(slug="research-notes", is_builtin=True),
        name="Deep research",
        backend=backend,
        options=options,
        status=SandboxSession.Status.CREATING,
    )
    run = Run.objects.create(
        owner=owner, session=session, agent_config=config, config=config.frozen(), prompt=question
    )
    transaction.on_commit(lambda: run_after_session_start_task.enqueue(run.pk))
    return run
