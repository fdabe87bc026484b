"""The agent-led presets with the offline demo model, end to end on the real local backend: the
demo coordinator calls every lane tool at once and answers in the declared schema; the demo
reviewer finds the sample repo's planted bugs by reading it; the homepage directions differ in
layout and a winner is picked."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async

import sandboxes.tasks
from runs import presets
from runs.demo import landing
from runs.lanes import LaneGroupRefused, lane_group_execute
from runs.models import Lane, LaneGroup, Run, RunEvent
from runs.structured import output_problems
from sandboxes.models import Preview
from sandboxes.starters import seed_builtin_starters

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("remove_lane_workspaces", "enqueued"),
]

SAMPLE = Path(__file__).resolve().parents[2] / "sandboxes/starters/fullstack-sample"


def line_of(path: str, needle: str) -> int:
    """The line of the sample repo's file that holds `needle` (1-based)."""
    lines = (SAMPLE / path).read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if needle in text)


@pytest.fixture
def boots(monkeypatch) -> list[tuple]:
    """Previews the lanes asked to boot (npm install is not this test's business)."""
    calls: list[tuple] = []
    monkeypatch.setattr(
        sandboxes.tasks,
        "preview_boot_task",
        SimpleNamespace(enqueue=lambda *a: calls.append(a), queue_name="default"),
    )
    return calls


async def execute(group: LaneGroup) -> tuple[Run, list[Run]]:
    await asyncio.wait_for(lane_group_execute(group_id=group.pk), timeout=120)
    coordinator = await Run.objects.aget(lane_group=group, is_coordinator=True)
    calls = [r async for r in Run.objects.filter(parent=coordinator).order_by("pk")]
    return coordinator, calls


async def test_the_agent_led_code_review_finds_the_planted_bugs_with_file_and_line(
    alice, boots, settings
):
    settings.LANE_PREVIEW_WAIT_SECONDS = 0  # the frontend's preview boot is recorded, not run
    await sync_to_async(seed_builtin_starters)()
    group = await sync_to_async(presets.launch_code_review)(owner=alice, model="demo")
    assert group.mode == LaneGroup.Mode.AGENT

    coordinator, calls = await execute(group)

    assert coordinator.status == Run.Status.SUCCEEDED, coordinator.error
    # The demo coordinator called the three reviewers in one turn: they overlapped.
    assert sorted(r.lane_label for r in calls) == ["Backend", "Frontend", "Repository"]
    assert all(r.status == Run.Status.SUCCEEDED for r in calls), [r.error for r in calls]
    assert max(r.started_at for r in calls) < min(r.finished_at for r in calls)
    # The frontend lane serves the sample's Vite app from frontend/ (a real boot and screenshot
    # are tests/e2e/test_agent_lanes.py's); the others serve nothing.
    [preview] = [p async for p in Preview.objects.filter(session__lanes__group=group)]
    assert preview.command.startswith("cd frontend && npm install") and len(boots) == 1
    assert await Lane.objects.filter(session=preview.session_id, label="Frontend").aexists()
    result = coordinator.structured_output
    assert output_problems(coordinator.config["output_schema"], result) == []
    rows = {}  # (file, line) -> its findings (a line may hold a static and a runtime one)
    for found in result["findings"]:
        rows.setdefault((found["file"], found["line"]), []).append(found)

    def finding(where, words):
        [row] = [f for f in rows[where] if words in f["finding"]]
        return row

    planted = {
        "debug mode": ("backend/app.py", line_of("backend/app.py", "debug=True")),
        "hard-coded secret": ("backend/app.py", line_of("backend/app.py", "SECRET_KEY")),
        "SQL built from strings": ("backend/app.py", line_of("backend/app.py", "LIKE '%{")),
        "missing input validation": ("backend/app.py", line_of("backend/app.py", "get_json()")),
        "XSS": ("frontend/src/App.jsx", line_of("frontend/src/App.jsx", "dangerouslySetInner")),
    }
    for bug, where in planted.items():
        assert where in rows, (bug, where, sorted(rows))
    assert finding(planted["debug mode"], "Debug mode")["severity"] == "high"
    assert finding(planted["SQL built from strings"], "SQL is built from strings")
    # The secret was found by two lanes; it is one row naming both.
    assert finding(planted["hard-coded secret"], "hard-coded")["lane"] == "Backend, Repository"
    # Most severe first.
    order = {"high": 0, "medium": 1, "low": 2}
    severities = [order[f["severity"]] for f in result["findings"]]
    assert severities == sorted(severities)
    assert "Offline demo" in result["summary"]


async def test_the_backend_runtime_lane_runs_the_api_and_reports_what_it_answered(
    alice, boots, settings
):
    """The backend lane starts the sample API in its sandbox, probes it over HTTP, stops it:
    the real responses are in its log, and its findings cite them, including one that only a
    running server shows (a delete answered 204 that does not stick)."""
    settings.LANE_PREVIEW_WAIT_SECONDS = 0
    await sync_to_async(seed_builtin_starters)()
    group = await sync_to_async(presets.launch_code_review)(owner=alice, model="demo")

    coordinator, calls = await execute(group)

    assert coordinator.status == Run.Status.SUCCEEDED, coordinator.error
    [backend] = [r for r in calls if r.lane_label == "Backend"]
    log = "\n".join(
        [
            json.dumps(e.payload, ensure_ascii=False)
            async for e in RunEvent.objects.filter(run=backend).order_by("seq")
        ]
    )
    # The probe command's output, as the server answered it.
    assert "=== started: PORT=" in log
    assert "HTTP/1.0 500 Internal Server Error" in log
    assert "sqlite3.OperationalError: unrecognized token" in log
    assert "KeyError: 'title'" in log
    assert '\\"SECRET_KEY\\": \\"dev-secret-change-me\\"' in log  # the /debug page's JSON
    assert "HTTP/1.0 204 No Content" in log
    assert "=== stopped" in log

    runtime = {
        (f["file"], f["line"]): f["finding"]
        for f in coordinator.structured_output["findings"]
        if "runtime" in f["finding"].lower() and f["lane"] == "Backend"
    }
    sql = line_of("backend/app.py", "LIKE '%{")
    assert "GET /api/notes?q=' returned 500 with a traceback" in runtime[("backend/app.py", sql)]
    assert "unrecognized token" in runtime[("backend/app.py", sql)]
    body = line_of("backend/app.py", "= self.get_json()")
    assert (
        "POST /api/notes with {} returned 500 (KeyError: 'title')"
        in runtime[("backend/app.py", body)]
    )
    assert (
        "GET /debug returned 200"
        in runtime[("backend/app.py", line_of("backend/app.py", '"/debug"'))]
    )
    assert (
        f"{len(runtime)} of them observed on the running app"
        in (coordinator.structured_output["summary"])
    )
    # Only observable at runtime: no static rule says a delete does not stick.
    delete = line_of("backend/app.py", 'execute("DELETE')
    assert "returned 204 but the note is still listed" in runtime[("backend/app.py", delete)]


async def test_the_demo_reviewer_reads_the_file_as_it_is_not_a_fixed_answer(alice):
    """Fix one bug and move another in the lane's sandbox: the findings follow the file."""
    from runs.demo.scripts.review import findings_in, parse_numbered

    source = (SAMPLE / "backend/app.py").read_text()
    edited = "# a comment\n# another\n" + source.replace(", debug=True)", ")")
    numbered = "\n".join(f"backend/app.py:{n}:{t}" for n, t in enumerate(edited.splitlines(), 1))
    found = findings_in(parse_numbered("Output:\n" + numbered), "code")
    assert not [f for f in found if "Debug" in f.finding]
    [secret] = [f for f in found if "secret" in f.finding]
    assert secret.line == line_of("backend/app.py", "SECRET_KEY") + 2


async def test_homepage_directions_differ_in_layout_and_the_coordinator_picks_a_winner(
    alice, boots, settings
):
    settings.LANE_PREVIEW_WAIT_SECONDS = 0  # the previews' boots are recorded, not run
    await sync_to_async(seed_builtin_starters)()
    brief = "A landing page for a green tea shop in Kyoto called Matcha House, listing sencha."
    group = await sync_to_async(presets.launch_homepage_directions)(
        owner=alice, model="demo", brief=brief, directions=3
    )

    coordinator, calls = await execute(group)

    assert coordinator.status == Run.Status.SUCCEEDED, coordinator.error
    assert [r.lane_label for r in calls] == ["Centered", "Editorial", "Split"]
    assert all(r.status == Run.Status.SUCCEEDED for r in calls), [r.error for r in calls]
    # Each direction wrote a real landing page in its own sandbox, each in another layout.
    specs = {}
    for run in calls:
        lane = await Lane.objects.select_related("session").aget(pk=run.lane_id)
        app = Path(lane.session.workspace_root, "src/App.tsx").read_text()
        spec = landing.spec_from_source(app)
        specs[run.lane_label] = spec
        assert spec["brand"] == "Matcha House"
        assert "Sencha" in [f["title"] for f in spec["features"]]
        assert {"hero", "features", "band", "footer"} <= set(spec["sections"])
    assert {label: s["layout"] for label, s in specs.items()} == {
        "Split": "split",
        "Centered": "centered",
        "Editorial": "editorial",
    }
    # Each direction serves a preview (booting in the background).
    previews = [p async for p in Preview.objects.filter(session__lanes__group=group)]
    assert len(previews) == 3 and len(boots) == 3
    # The selection matches its schema and names one of the directions.
    selection = coordinator.structured_output
    assert output_problems(coordinator.config["output_schema"], selection) == []
    assert selection["winner"] in specs
    assert {d["direction"] for d in selection["shortlist"]} == set(specs)
    assert selection["shortlist"][0]["direction"] == selection["winner"]
    assert selection["winner"] in selection["recommendation"]


def test_the_homepage_preset_refuses_an_empty_brief_or_too_many_directions(alice):
    seed_builtin_starters()
    with pytest.raises(LaneGroupRefused, match="brief"):
        presets.launch_homepage_directions(owner=alice, model="demo", brief="  ")
    with pytest.raises(LaneGroupRefused, match="2 to 6 directions"):
        presets.launch_homepage_directions(owner=alice, model="demo", brief="A shop", directions=7)
    assert not LaneGroup.objects.exists()


def test_a_fixed_fan_out_demo_coordinator_with_a_schema_answers_in_it():
    """Fixed fan-out: the lanes' outcomes are in the coordinator's prompt, not tool outputs."""
    import json

    from runs.demo import DemoModel
    from runs.demo.turn import Turn
    from runs.lanes import coordinator_prompt
    from runs.structured import REVIEW_FINDINGS_SCHEMA, JsonSchemaOutput

    backend = Run(
        lane_label="Backend",
        status=Run.Status.SUCCEEDED,
        final_output="- [high] backend/app.py:13 — SQL built from strings. Fix: Parameters.",
    )
    frontend = Run(lane_label="Frontend", status=Run.Status.FAILED, error="model down")
    prompt = coordinator_prompt("Merge the findings.", [backend, frontend])
    schema = JsonSchemaOutput(REVIEW_FINDINGS_SCHEMA)

    [message] = DemoModel().plan(Turn(input=prompt, output_schema=schema))

    answer = schema.validate_json(message.content[0].text)
    assert answer["findings"] == [
        {
            "lane": "Backend",
            "severity": "high",
            "file": "backend/app.py",
            "line": 13,
            "finding": "SQL built from strings.",
            "fix": "Parameters.",
        }
    ]
    assert "Lanes that did not report: Frontend." in answer["summary"]
    assert json.loads(message.content[0].text) == answer
