"""Agent-led lane groups on the real local backend with scripted models: the coordinator calls
its lanes as tools; each call is a run of its own in the lane's sandbox."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from agents.testing import ModelStep, function_call
from agents.usage import Usage
from asgiref.sync import sync_to_async

from lib.images import parse_data_url, png_size
from runs.lanes import LaneSpec, lane_group_cancel, lane_group_create, lane_group_execute
from runs.models import Lane, LaneGroup, Run
from runs.structured import REVIEW_FINDINGS_SCHEMA
from sandboxes.models import Preview, SandboxSession, Screenshot
from sandboxes.services import session_start
from tests.fakes.previews import SERVER
from tests.images import distinct_colours

from ..helpers import answer_step, config, events_of, shell_step, use_model

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("remove_lane_workspaces", "enqueued"),
]

GROUP_TIMEOUT = 90
TASK = "Review the notes app: call the reviewers you need, then report."


def lane(label: str, model: str, manifest) -> LaneSpec:
    cfg = config(model=model, name=f"{label} reviewer", capabilities=["shell"], max_turns=5)
    return LaneSpec(
        label=label,
        config=cfg,
        prompt=f"reviews the {label.lower()}",
        manifest=manifest,
        description=f"{label} reviewer: reviews the {label.lower()} in its own sandbox.",
    )


def calls_step(*calls: tuple[str, str, str]) -> ModelStep:
    """One model response calling several lane tools at once: (tool, input, call id)."""
    return ModelStep(
        output=[function_call(tool, {"input": text}, call_id=cid) for tool, text, cid in calls],
        usage=Usage(requests=1, input_tokens=40, output_tokens=12, total_tokens=52),
    )


def coordinator_config(**overrides) -> dict:
    return config(
        model="coordinator",
        name="Coordinator",
        capabilities=[],
        tool_choice="required",
        model_settings={"parallel_tool_calls": True},
        **overrides,
    )


async def create_group(owner, lanes, coordinator=None) -> LaneGroup:
    return await sync_to_async(lane_group_create)(
        owner=owner,
        title="Review",
        task=TASK,
        lanes=lanes,
        coordinator=coordinator or coordinator_config(),
        mode=LaneGroup.Mode.AGENT,
    )


async def execute(group: LaneGroup) -> tuple[Run, list[Run]]:
    await asyncio.wait_for(lane_group_execute(group_id=group.pk), timeout=GROUP_TIMEOUT)
    coordinator = await Run.objects.aget(lane_group=group, is_coordinator=True)
    calls = [r async for r in Run.objects.filter(parent=coordinator).order_by("pk")]
    return coordinator, calls


def tool_outputs(call) -> dict[str, str]:
    """The function call outputs a model was given, by call id."""
    found = {}
    for item in call.input if isinstance(call.input, list) else []:
        if isinstance(item, dict) and item.get("type") == "function_call_output":
            found[item["call_id"]] = item["output"]
    return found


async def test_two_lane_tools_called_in_one_turn_run_concurrently(alice, fullstack):
    use_model("front", [shell_step("sleep 1", "f-sleep"), answer_step("FRONT: XSS in App.jsx")])
    use_model("back", [shell_step("sleep 1", "b-sleep"), answer_step("BACK: SQL injection")])
    coordinator_model = use_model(
        "coordinator",
        [
            calls_step(
                ("lane_frontend", "Review frontend/src/App.jsx", "call-f"),
                ("lane_backend", "Review backend/app.py", "call-b"),
            ),
            answer_step("Two findings, merged."),
        ],
    )
    group = await create_group(
        alice, [lane("Frontend", "front", fullstack), lane("Backend", "back", fullstack)]
    )

    coordinator, calls = await execute(group)

    assert coordinator.status == Run.Status.SUCCEEDED, coordinator.error
    assert coordinator.final_output == "Two findings, merged."
    # The coordinator was offered one tool per lane, named and described after it.
    first = coordinator_model.first_call
    offered = {tool.name: tool.description for tool in first.tools}
    assert offered == {
        "lane_frontend": "Frontend reviewer: reviews the frontend in its own sandbox.",
        "lane_backend": "Backend reviewer: reviews the backend in its own sandbox.",
    }
    assert first.model_settings.parallel_tool_calls is True
    assert first.model_settings.tool_choice == "required"
    # Each call is a run of its own, in its lane's sandbox, linked to the coordinator's call.
    assert [(r.lane_label, r.tool_call_id, r.prompt) for r in calls] == [
        ("Frontend", "call-f", "Review frontend/src/App.jsx"),
        ("Backend", "call-b", "Review backend/app.py"),
    ]
    lanes = {lane.label: lane async for lane in Lane.objects.filter(group=group)}
    for run in calls:
        assert run.status == Run.Status.SUCCEEDED, run.error
        assert run.lane_id == lanes[run.lane_label].pk
        assert run.session_id == lanes[run.lane_label].session_id
        assert run.lane_group_id == group.pk and run.requests == 2
    assert calls[0].session_id != calls[1].session_id
    # They slept at the same time: each started before the other finished.
    assert max(r.started_at for r in calls) < min(r.finished_at for r in calls), [
        (r.lane_label, r.started_at, r.finished_at) for r in calls
    ]
    # The coordinator read both lanes' answers as the tools' outputs.
    outputs = tool_outputs(coordinator_model.calls[1])
    assert "FRONT: XSS in App.jsx" in outputs["call-f"]
    assert "BACK: SQL injection" in outputs["call-b"]
    # Its own log shows the calls, the lane runs they became, and what came back.
    events = await events_of(coordinator)
    launched = [e.payload for e in events if e.kind == "lane_call"]
    assert [(p["label"], p["run"], p["call"]) for p in launched] == [
        ("Frontend", calls[0].pk, "call-f"),
        ("Backend", calls[1].pk, "call-b"),
    ]
    assert {e.payload["call"] for e in events if e.kind == "tool_output"} == {"call-f", "call-b"}


async def test_a_lane_called_twice_runs_its_calls_one_after_another(alice, fullstack):
    use_model(
        "front",
        [
            shell_step("sleep 1", "first-sleep"),
            answer_step("first pass"),
            shell_step("cat frontend/src/api.js", "second-read"),
            answer_step("second pass"),
        ],
    )
    use_model("back", [answer_step("unused")])
    coordinator_model = use_model(
        "coordinator",
        [
            calls_step(
                ("lane_frontend", "Look at App.jsx", "one"),
                ("lane_frontend", "Now look at api.js", "two"),
            ),
            answer_step("Done twice."),
        ],
    )
    group = await create_group(
        alice, [lane("Frontend", "front", fullstack), lane("Backend", "back", fullstack)]
    )

    coordinator, calls = await execute(group)

    assert coordinator.status == Run.Status.SUCCEEDED, coordinator.error
    first, second = calls
    assert (first.prompt, second.prompt) == ("Look at App.jsx", "Now look at api.js")
    assert first.session_id == second.session_id  # the same lane, the same sandbox
    assert (first.status, second.status) == (Run.Status.SUCCEEDED,) * 2, (first.error, second.error)
    # One sandbox runs one call at a time: the second waited for the first.
    assert second.started_at >= first.finished_at
    outputs = tool_outputs(coordinator_model.calls[1])
    assert "first pass" in outputs["one"] and "second pass" in outputs["two"]
    # The second call really ran in the sandbox (its read found the file).
    [read] = [e.payload for e in await events_of(second) if e.kind == "tool_output"]
    assert read["exit_code"] == 0 and "listNotes" in read["output"]
    # The lane that was never called never started a sandbox.
    backend = await Lane.objects.select_related("session").aget(group=group, label="Backend")
    assert backend.session.status == SandboxSession.Status.STOPPED
    assert "did not call this lane" in backend.session.last_error


async def test_a_failing_lane_returns_its_error_to_the_coordinator(alice, fullstack):
    use_model("front", [ModelStep.raise_error(RuntimeError("provider overloaded (503)"))])
    use_model("back", [answer_step("BACK: fine")])
    coordinator_model = use_model(
        "coordinator",
        [
            calls_step(
                ("lane_frontend", "Review the UI", "call-f"),
                ("lane_backend", "Review the API", "call-b"),
            ),
            answer_step("Merged what there was."),
        ],
    )
    group = await create_group(
        alice, [lane("Frontend", "front", fullstack), lane("Backend", "back", fullstack)]
    )

    coordinator, (front, back) = await execute(group)

    assert front.status == Run.Status.FAILED and "provider overloaded (503)" in front.error
    assert back.status == Run.Status.SUCCEEDED, back.error
    assert coordinator.status == Run.Status.SUCCEEDED, coordinator.error
    outputs = tool_outputs(coordinator_model.calls[1])
    assert outputs["call-f"].startswith(f"Lane “Frontend” (run #{front.pk}) failed: ")
    assert "provider overloaded (503)" in outputs["call-f"]
    assert "BACK: fine" in outputs["call-b"]


async def test_cancelling_the_coordinator_cancels_the_lanes_it_launched(alice, fullstack):
    use_model("front", [shell_step("sleep 30", "slow-f"), answer_step("too late")])
    use_model("back", [shell_step("sleep 30", "slow-b"), answer_step("too late")])
    coordinator_model = use_model(
        "coordinator",
        [
            calls_step(("lane_frontend", "Slow UI review", "f"), ("lane_backend", "Slow API", "b")),
            answer_step("never"),
        ],
    )
    group = await create_group(
        alice, [lane("Frontend", "front", fullstack), lane("Backend", "back", fullstack)]
    )
    execution = asyncio.create_task(lane_group_execute(group_id=group.pk))
    try:
        for _ in range(300):
            await asyncio.sleep(0.05)
            sleeping = (
                await Run.objects.filter(
                    lane_group=group, lane__isnull=False, status=Run.Status.RUNNING
                )
                .filter(events__kind="tool_call")
                .acount()
            )
            if sleeping == 2:
                break
        assert sleeping == 2
        await asyncio.sleep(0.3)

        await lane_group_cancel(group=group)
        await asyncio.wait_for(execution, timeout=30)
    finally:
        if not execution.done():
            execution.cancel()

    coordinator = await Run.objects.aget(lane_group=group, is_coordinator=True)
    calls = [r async for r in Run.objects.filter(parent=coordinator)]
    assert coordinator.status == Run.Status.CANCELLED
    assert [r.status for r in calls] == [Run.Status.CANCELLED] * 2, [r.error for r in calls]
    assert all(r.finished_at is not None for r in calls)
    assert len(coordinator_model.calls) == 1  # it never read the outputs
    assert not await Run.objects.filter(status__in=Run.ACTIVE_STATUSES).aexists()


async def test_cancelling_only_the_coordinator_run_stops_its_lane_calls(alice, fullstack):
    from runs.services import run_cancel

    use_model("front", [shell_step("sleep 30", "slow-f"), answer_step("too late")])
    use_model("back", [answer_step("unused")])
    use_model(
        "coordinator",
        [calls_step(("lane_frontend", "Slow", "f"), ("lane_frontend", "Queued", "g"))],
    )
    group = await create_group(
        alice, [lane("Frontend", "front", fullstack), lane("Backend", "back", fullstack)]
    )
    execution = asyncio.create_task(lane_group_execute(group_id=group.pk))
    try:
        for _ in range(300):
            await asyncio.sleep(0.05)
            if await Run.objects.filter(
                lane__isnull=False, status=Run.Status.RUNNING, events__kind="tool_call"
            ).aexists():
                break
        coordinator = await Run.objects.aget(lane_group=group, is_coordinator=True)
        await run_cancel(run=coordinator)
        await asyncio.wait_for(execution, timeout=30)
    finally:
        if not execution.done():
            execution.cancel()

    running, queued = [r async for r in Run.objects.filter(parent=coordinator).order_by("pk")]
    assert running.status == Run.Status.CANCELLED and running.started_at is not None
    # The second call to the same lane was still waiting for the first: it never started.
    assert queued.status == Run.Status.CANCELLED and queued.started_at is None


async def test_a_structured_coordinator_output_is_validated_and_stored(alice, fullstack):
    finding = {
        "lane": "Backend",
        "severity": "high",
        "file": "backend/app.py",
        "line": 13,
        "finding": "SQL built from strings",
        "fix": "Use parameters",
    }
    use_model("back", [answer_step("backend/app.py:13 SQL built from strings")])
    use_model("front", [answer_step("unused")])
    coordinator_model = use_model(
        "coordinator",
        [
            calls_step(("lane_backend", "Review the API", "b")),
            answer_step(json.dumps({"summary": "One finding.", "findings": [finding]})),
        ],
    )
    group = await create_group(
        alice,
        [lane("Frontend", "front", fullstack), lane("Backend", "back", fullstack)],
        coordinator_config(output_schema=REVIEW_FINDINGS_SCHEMA),
    )

    coordinator, _ = await execute(group)

    assert coordinator.status == Run.Status.SUCCEEDED, coordinator.error
    assert coordinator.structured_output == {"summary": "One finding.", "findings": [finding]}
    assert json.loads(coordinator.final_output) == coordinator.structured_output
    # The model was asked for that schema.
    schema = coordinator_model.calls[1].output_schema
    assert schema is not None and schema.json_schema() == REVIEW_FINDINGS_SCHEMA
    state = [e.payload for e in await events_of(coordinator) if e.kind == "state"][-1]
    assert state["structured"] == coordinator.structured_output


async def test_an_output_not_matching_the_schema_fails_the_run_saying_where(alice, fullstack):
    use_model("back", [answer_step("found it")])
    use_model("front", [answer_step("unused")])
    bad = {"summary": "x", "findings": [{"lane": "Backend", "severity": "critical"}]}
    use_model(
        "coordinator",
        [calls_step(("lane_backend", "Review", "b")), answer_step(json.dumps(bad))],
    )
    group = await create_group(
        alice,
        [lane("Frontend", "front", fullstack), lane("Backend", "back", fullstack)],
        coordinator_config(output_schema=REVIEW_FINDINGS_SCHEMA),
    )

    coordinator, _ = await execute(group)

    assert coordinator.status == Run.Status.FAILED
    assert "does not match the output schema" in coordinator.error
    assert "$.findings[0]" in coordinator.error
    assert "'critical' is not one of" in coordinator.error
    assert coordinator.structured_output is None


async def directions_group(owner, manifest) -> LaneGroup:
    """Two homepage lanes: "Split" (model "designer") serves its app, "Centered" ("other")."""
    designer = config(name="Homepage designer", capabilities=["shell"])
    specs = [
        LaneSpec(label=label, config=designer | {"model": model}, prompt="build", manifest=manifest)
        for label, model in (("Split", "designer"), ("Centered", "other"))
    ]
    specs[0].serves_preview = True
    return await create_group(owner, specs)


async def test_a_direction_returns_its_preview_and_a_real_screenshot_as_an_image(
    alice, starter, supervisor, settings
):
    """A lane that serves its app waits for the preview, photographs it through the proxy with
    Debian's chromium, and the coordinator's next request carries the picture as an image."""
    settings.LANE_PREVIEW_WAIT_SECONDS = 60
    page = "<body style='background:#4f46e5;color:#fff'><h1>Split direction</h1></body>"
    use_model(
        "designer",
        [shell_step(f'printf "{page}" > index.html', "write"), answer_step("I built it.")],
    )
    use_model("other", [answer_step("unused")])
    coordinator_model = use_model(
        "coordinator",
        [calls_step(("lane_split", "Build the split direction", "s")), answer_step("Split wins.")],
    )
    group = await directions_group(alice, starter)
    lane = await Lane.objects.select_related("session").aget(group=group, label="Split")
    # The direction's app: a tiny HTTP server started as the preview the lane will find.
    await session_start(session_id=lane.session_id)
    preview = await Preview.objects.acreate(session_id=lane.session_id, command=SERVER)
    supervisor(preview)

    coordinator, [call] = await execute(group)

    assert call.status == Run.Status.SUCCEEDED, call.error
    assert coordinator.status == Run.Status.SUCCEEDED, coordinator.error
    shot = await Screenshot.objects.aget(session_id=lane.session_id)
    assert (shot.width, shot.height, shot.preview_id) == (1280, 800, preview.pk)
    png = await sync_to_async(lambda: shot.image.read())()
    artifacts = Path(__file__).parents[2] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "lane-screenshot.png").write_bytes(png)
    # The page the lane wrote, painted: its background and its heading's text.
    assert png_size(png) == (1280, 800) and distinct_colours(png) > 2
    # The coordinator read the lane's answer, the preview's address and the picture itself.
    [output] = [
        item["output"]
        for item in coordinator_model.calls[1].input
        if isinstance(item, dict) and item.get("type") == "function_call_output"
    ]
    [text] = [part["text"] for part in output if part["type"] == "input_text"]
    assert "I built it." in text
    assert f"p{preview.pk}.{settings.PREVIEW_DOMAIN}" in text and f"#{shot.pk}" in text
    [image] = [part for part in output if part["type"] == "input_image"]
    assert parse_data_url(image["image_url"]) == ("image/png", png)
    # The coordinator's log shows the picture as an image, not as text.
    [returned] = [e.payload for e in await events_of(coordinator) if e.kind == "tool_output"]
    assert len(returned.get("images") or []) == 1


async def test_a_direction_whose_preview_fails_says_so_without_a_screenshot(
    alice, fullstack, supervisor, settings
):
    settings.LANE_PREVIEW_WAIT_SECONDS = 60
    use_model("designer", [answer_step("Built.")])
    use_model("other", [answer_step("unused")])
    coordinator_model = use_model(
        "coordinator",
        [calls_step(("lane_split", "Build it", "s")), answer_step("No picture.")],
    )
    # Without its frontend's package.json the notes sample has none at all: `npm run dev`
    # fails.
    group = await directions_group(alice, fullstack)
    lane = await Lane.objects.select_related("session").aget(group=group, label="Split")
    await session_start(session_id=lane.session_id)
    await lane.session.arefresh_from_db()
    (Path(lane.session.workspace_root) / "frontend/package.json").unlink()

    coordinator, _ = await execute(group)

    assert coordinator.status == Run.Status.SUCCEEDED, coordinator.error
    preview = await Preview.objects.aget(session__lanes__label="Split")
    assert preview.status == Preview.Status.FAILED
    outputs = tool_outputs(coordinator_model.calls[1])
    assert f"Preview #{preview.pk}" in outputs["s"] and "is failed" in outputs["s"]
    assert "no screenshot" in outputs["s"]
    assert not await Screenshot.objects.aexists()


async def test_a_queued_lane_call_whose_coordinator_died_is_reaped(alice, fullstack, settings):
    from datetime import timedelta

    from django.utils import timezone

    from runs.reaper import reap_stale_runs

    group = await create_group(
        alice, [lane("Frontend", "front", fullstack), lane("Backend", "back", fullstack)]
    )
    coordinator = await Run.objects.aget(lane_group=group, is_coordinator=True)
    front = await Lane.objects.aget(group=group, label="Frontend")
    # What a restart leaves: the coordinator running with a stale heartbeat, a call queued
    # behind its lane's first call, and no process left to start it.
    long_ago = timezone.now() - timedelta(seconds=settings.RUN_STALE_SECONDS * 3)
    await Run.objects.filter(pk=coordinator.pk).aupdate(
        status=Run.Status.RUNNING, started_at=long_ago, heartbeat_at=long_ago
    )
    queued = await Run.objects.acreate(
        owner=alice, session_id=front.session_id, lane=front, parent=coordinator, prompt="later"
    )

    assert await reap_stale_runs() == 2

    await coordinator.arefresh_from_db()
    await queued.arefresh_from_db()
    assert coordinator.status == Run.Status.INTERRUPTED
    assert queued.status == Run.Status.INTERRUPTED
    assert queued.error == "Its coordinator ended before this lane call started."
    last = (await events_of(queued))[-1]
    assert last.kind == "state" and last.payload["status"] == "interrupted"
