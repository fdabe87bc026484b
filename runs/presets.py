"""Ready-to-click presets from the SDK's examples. They create ordinary agent configs (editable
on the Agents page) and use ordinary built-in manifests."""

from __future__ import annotations

from django.db import transaction

from lib.secrets import seal
from sandboxes.models import Manifest, SandboxSession

from .lanes import MAX_LANES, MIN_LANES, LaneGroupRefused, LaneSpec, lane_group_create
from .mcp import builtin_server_spec, e2b_server_spec, http_server_spec
from .models import AgentConfig, LaneGroup, Run
from .structured import HOMEPAGE_SELECTION_SCHEMA, REVIEW_FINDINGS_SCHEMA

CODE_REVIEW = "fullstack-code-review"
DEEP_RESEARCH = "deep-research"
HOMEPAGE = "homepage-directions"
# An agent-led coordinator calls its lanes (all at once if it likes) before it answers; the
# SDK resets tool_choice after the first tool call, so "required" cannot loop.
COORDINATOR_SETTINGS = {"tool_choice": "required", "model_settings": {"parallel_tool_calls": True}}

REVIEW_RULES = (
    "Review only; do not edit files. Read the code with shell commands, then answer with a "
    "list of findings, most severe first, each with file:line, the problem and the fix."
)
CODE_REVIEW_LANES = [
    (
        "Frontend",
        "Frontend runtime reviewer",
        "You review React front ends for correctness, security (XSS), accessibility and "
        "performance. " + REVIEW_RULES,
        "Frontend runtime review: review the front end in frontend/ (App.jsx, api.js): bugs, "
        "XSS, effects, keys, URL building. The dashboard then starts it (Vite) and returns a "
        "screenshot of the running page.",
    ),
    (
        "Backend",
        "Backend runtime reviewer",
        "You review Python web back ends for security (injection, secrets), data handling "
        "and error paths, by reading the code and by running it: start the API in your "
        "sandbox, probe it with hostile requests (curl), stop it, and cite the responses you "
        "observed. " + REVIEW_RULES,
        "Backend runtime review: run the API in backend/ (python3 app.py, standard library "
        "only) and probe it: a SQL-injection probe (?q='), a POST without fields, the /debug "
        "page, a delete that should stick. Then review app.py and db.py: SQL, transactions, "
        "secrets, debug mode, input validation.",
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
AGENT_LED_COORDINATOR = (
    "Review lead",
    "You lead a code review. Each reviewer is a tool bound to its own sandbox holding the "
    "repository: call every reviewer you need, in parallel, each with a precise task (it sees "
    "nothing but your input). Then merge their findings: one row per problem (lane, severity "
    "high/medium/low, file, line, finding, fix), deduplicated, most severe first, and say in "
    "the summary which reviewers failed.",
)


RESEARCHER_INSTRUCTIONS = (
    "You research questions with the MCP tools you have: search first, then fetch the most "
    "relevant documents and read them. Keep notes in notes.md in your sandbox. Answer with a "
    "sourced summary: each claim followed by the number of its source, then a list of the "
    "sources you fetched (title and URL). Cite only what you fetched."
)
RESEARCH_LEAD = (
    "Research lead",
    "You lead a research. Each researcher is a tool bound to its own notes sandbox and the "
    "search servers, and studies one angle of the question: call every researcher, in "
    "parallel, with the question and its angle (it sees nothing but your input). Then write "
    "one answer that merges their findings, each claim followed by the number of its source, "
    "and one numbered Sources list: the union of the sources the researchers fetched (title "
    "and URL). Cite only what they fetched; say which researchers did not report.",
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
def launch_code_review(
    *, owner, model: str, backend: str = "local", mode: str = LaneGroup.Mode.AGENT
) -> LaneGroup:
    """Three review lanes over the sample repo and a coordinator. Agent-led (the default): the
    coordinator calls the reviewers as tools and returns one structured findings table; fixed
    fan-out: every reviewer runs once, then the coordinator merges their reports."""
    manifest = Manifest.objects.get(slug="fullstack-sample", is_builtin=True)
    lanes = []
    for label, name, instructions, prompt in CODE_REVIEW_LANES:
        config = _config(owner, CODE_REVIEW, name, model, instructions)
        frozen = config.frozen() | {"model": model}
        lanes.append(
            LaneSpec(
                label=label,
                config=frozen,
                prompt=prompt,
                manifest=manifest,
                backend=backend,
                description=f"{name}, in its own sandbox with the repository. {prompt}",
                serves_preview=label == "Frontend",
            )
        )
    if mode == LaneGroup.Mode.AGENT:
        name, instructions = AGENT_LED_COORDINATOR
        coordinator = _config(
            owner,
            CODE_REVIEW,
            name,
            model,
            instructions,
            capabilities=[],
            output_schema=REVIEW_FINDINGS_SCHEMA,
            **COORDINATOR_SETTINGS,
        )
        task = (
            "Review the notes app (a standard-library Python API and a React front end): call "
            "the frontend, backend and repository reviewers, then return every finding."
        )
    else:
        name, instructions = COORDINATOR
        coordinator = _config(owner, CODE_REVIEW, name, model, instructions, capabilities=[])
        task = "Write one prioritised code review of the notes app from the lanes' findings."
    return lane_group_create(
        owner=owner,
        title="Full-stack code review",
        task=task,
        lanes=lanes,
        coordinator=coordinator.frozen() | {"model": model},
        preset=CODE_REVIEW,
        mode=mode,
    )


# (label, how the direction differs): the demo model reads the layout and theme from the words.
DIRECTIONS = [
    ("Split", "the split layout (text beside a product panel)"),
    ("Centered", "the centered layout (one bold centred hero)"),
    ("Editorial", "the editorial layout (a magazine-style column)"),
    ("Split dark", "the split layout, dark theme"),
    ("Centered dark", "the centered layout, dark theme"),
    ("Editorial dark", "the editorial layout, dark theme"),
]
DESIGNER = (
    "Homepage designer",
    "You build landing pages in src/App.tsx of a Vite + React app: a header, a hero with a "
    "headline, a subline and a call to action, features, a call-to-action band and a footer, "
    "from the brief's own words, in the direction you are given. Inspect before you edit; "
    "answer with what you built.",
)
DIRECTOR = (
    "Homepage director",
    "You direct homepage designers. Each direction is a tool bound to its own sandbox and "
    "preview: call every direction, in parallel, with the brief and the direction's own take. "
    "Then judge what they built against the brief and return the winner, a shortlist with a "
    "score (0-10) and why for each, and your recommendation.",
)


@transaction.atomic
def launch_homepage_directions(
    *,
    owner,
    model: str,
    brief: str,
    directions: int = 3,
    backend: str = "local",
    mode: str = LaneGroup.Mode.AGENT,
) -> LaneGroup:
    """N directions of one brief, each in its own sandbox with a preview, and a coordinator that
    picks a winner (agent-led), or every direction once and a synthesis (fixed fan-out)."""
    if not brief.strip():
        raise LaneGroupRefused("Write the brief the directions build.")
    if not MIN_LANES <= directions <= MAX_LANES:
        raise LaneGroupRefused(f"Choose {MIN_LANES} to {MAX_LANES} directions.")
    manifest = Manifest.objects.get(slug="vite-react", is_builtin=True)
    name, instructions = DESIGNER
    designer = _config(
        owner, HOMEPAGE, name, model, instructions, capabilities=["shell", "filesystem"]
    )
    lanes = [
        LaneSpec(
            label=label,
            config=designer.frozen() | {"model": model},
            prompt=f"{brief.strip()}\n\nBuild it in {take}.",
            manifest=manifest,
            backend=backend,
            description=f"Builds the brief as a landing page in {take}, in its own sandbox, "
            "and serves a preview.",
            serves_preview=True,
        )
        for label, take in DIRECTIONS[:directions]
    ]
    name, instructions = DIRECTOR
    extra = {"output_schema": HOMEPAGE_SELECTION_SCHEMA, **COORDINATOR_SETTINGS}
    director = _config(
        owner,
        HOMEPAGE,
        name,
        model,
        instructions,
        capabilities=[],
        **(extra if mode == LaneGroup.Mode.AGENT else {}),
    )
    return lane_group_create(
        owner=owner,
        title="Homepage directions",
        task=brief.strip(),
        lanes=lanes,
        coordinator=director.frozen() | {"model": model},
        preset=HOMEPAGE,
        mode=mode,
    )


def research_angles(text: str) -> list[str]:
    """The angles of a deep research, one a line (blank lines and repeats dropped)."""
    angles: list[str] = []
    for line in text.splitlines():
        if (angle := " ".join(line.split())) and angle not in angles:
            angles.append(angle)
    return angles


def _angle_label(angle: str, taken: set[str]) -> str:
    base = angle if len(angle) <= 40 else angle[:40].rsplit(" ", 1)[0] + "…"
    label, n = base, 2
    while label in taken:
        label, n = f"{base} ({n})", n + 1
    taken.add(label)
    return label


@transaction.atomic
def launch_deep_research(
    *,
    owner,
    model: str,
    question: str,
    angles: list[str] | None = None,
    mcp_url: str = "",
    mcp_headers: dict[str, str] | None = None,
    e2b_settings: dict[str, dict[str, str]] | None = None,
    builtin_docs: bool | None = None,
) -> Run | LaneGroup:
    """A research agent with MCP search/browse servers, working in a notes sandbox.

    `builtin_docs`: attach the built-in offline docs server (search, fetch over the bundled
    corpus); by default when no other server is given, so the preset runs with no key.
    `angles`: with two or more, an agent-led lane group instead of one run: one researcher lane
    per angle (its own notes sandbox, the same servers; the angle is its tool's description)
    and a research lead that calls them in parallel and merges their findings and sources. One
    angle narrows the single run's question."""
    from .mcp import e2b_gateway_settings
    from .tasks import run_after_session_start_task

    angles = angles or []
    if len(angles) > MAX_LANES:
        raise LaneGroupRefused(f"Give at most {MAX_LANES} angles (one a line).")
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
    manifest = Manifest.objects.get(slug="research-notes", is_builtin=True)
    if len(angles) >= MIN_LANES:
        return _launch_research_lanes(
            owner=owner,
            model=model,
            question=question,
            angles=angles,
            researcher=config,
            manifest=manifest,
            backend=backend,
        )
    if angles:
        question = f"{question.strip()}\n\n{angles[0]}"
    options: dict = {"exposed_ports": []}
    if gateway := e2b_gateway_settings(servers):
        options["mcp"] = seal(gateway)
    session = SandboxSession.objects.create(
        owner=owner,
        manifest=manifest,
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


def _launch_research_lanes(
    *, owner, model, question, angles, researcher, manifest, backend
) -> LaneGroup:
    frozen = researcher.frozen() | {"model": model}
    taken: set[str] = set()
    lanes = [
        LaneSpec(
            label=_angle_label(angle, taken),
            config=frozen,
            prompt=angle,
            manifest=manifest,
            backend=backend,
            description=angle,
        )
        for angle in angles
    ]
    name, instructions = RESEARCH_LEAD
    lead = _config(
        owner, DEEP_RESEARCH, name, model, instructions, capabilities=[], **COORDINATOR_SETTINGS
    )
    return lane_group_create(
        owner=owner,
        title="Deep research",
        task=question.strip(),
        lanes=lanes,
        coordinator=lead.frozen() | {"model": model},
        preset=DEEP_RESEARCH,
        mode=LaneGroup.Mode.AGENT,
    )
