"""Lane groups on the real local backend with scripted models: parallel lanes, each in its own
sandbox, then a coordinator without a sandbox that is told every lane's outcome."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta

import pytest
from agents.testing import ModelStep
from asgiref.sync import sync_to_async
from django.urls import reverse
from django.utils import timezone

from runs import presets
from runs.lanes import (
    MAX_LANES,
    WAITING_PROMPT,
    LaneGroupRefused,
    LaneSpec,
    lane_group_cancel,
    lane_group_create,
    lane_group_execute,
)
from runs.models import AgentConfig, LaneGroup, Run
from runs.reaper import reap_stale_runs
from sandboxes.models import SandboxSession

from ..conftest import PASSWORD
from ..helpers import answer_step, config, events_of, shell_step, use_model

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("remove_lane_workspaces", "enqueued"),
]

GROUP_TIMEOUT = 90


def make_lane(label: str, model: str, manifest, **spec) -> LaneSpec:
    cfg = config(model=model, name=f"{label} reviewer", capabilities=["shell"], max_turns=5)
    return LaneSpec(
        label=label, config=cfg, prompt=f"Review the {label.lower()}.", manifest=manifest, **spec
    )


COORDINATOR = config(
    model="coordinator",
    name="Coordinator",
    # Even configured with shell and filesystem, a coordinator has no sandbox to use them in.
    capabilities=["shell", "filesystem"],
)
TASK = "Merge the reviewers' findings into one prioritised report."


async def create_group(owner, lanes: list[LaneSpec], coordinator: dict = COORDINATOR):
    return await sync_to_async(lane_group_create)(
        owner=owner, title="Review", task=TASK, lanes=lanes, coordinator=coordinator
    )


async def execute_group(group: LaneGroup) -> tuple[list[Run], Run]:
    await asyncio.wait_for(lane_group_execute(group_id=group.pk), timeout=GROUP_TIMEOUT)
    return await group_runs(group)


async def group_runs(group: LaneGroup) -> tuple[list[Run], Run]:
    runs_ = [r async for r in Run.objects.filter(lane_group=group).select_related("session")]
    lanes = sorted((r for r in runs_ if not r.is_coordinator), key=lambda r: r.pk)
    [coordinator] = [r for r in runs_ if r.is_coordinator]
    return lanes, coordinator


def model_input_text(call) -> str:
    """Everything the model was given as input, as one string."""
    return json.dumps(call.input, default=str, ensure_ascii=False)


# --- execution -----------------------------------------------------------------------------------


async def test_lanes_run_in_parallel_each_in_its_own_sandbox(alice, fullstack):
    for name in ("a", "b", "c"):
        use_model(name, [shell_step("sleep 1", f"sleep-{name}"), answer_step(f"{name} done")])
    use_model("coordinator", [answer_step("Merged.")])
    group = await create_group(
        alice, [make_lane(label, label.lower(), fullstack) for label in ("A", "B", "C")]
    )

    lanes, coordinator = await execute_group(group)

    assert [r.status for r in lanes] == [Run.Status.SUCCEEDED] * 3, [r.error for r in lanes]
    assert coordinator.status == Run.Status.SUCCEEDED, coordinator.error
    # Each lane had a sandbox of its own, started from the manifest.
    sessions = [r.session for r in lanes]
    assert len({s.pk for s in sessions}) == 3
    assert {s.status for s in sessions} == {SandboxSession.Status.RUNNING}
    assert {s.manifest_id for s in sessions} == {fullstack.pk}
    assert len({s.workspace_root for s in sessions}) == 3
    # Each lane really slept a second in its sandbox...
    for run in lanes:
        outputs = [e.payload for e in await events_of(run) if e.kind == "tool_output"]
        assert [o.get("exit_code") for o in outputs] == [0]
        assert outputs[0]["wall_time"] >= 0.9
    # ...and they slept at the same time: every lane started before any lane finished.
    assert max(r.started_at for r in lanes) < min(r.finished_at for r in lanes), [
        (r.lane_label, r.started_at, r.finished_at) for r in lanes
    ]
    # The coordinator starts once every lane is done.
    assert coordinator.started_at >= max(r.finished_at for r in lanes)


async def test_the_coordinator_is_told_every_lane_s_label_and_final_output(alice, fullstack):
    use_model("front", [answer_step("FRONT-1: XSS in App.jsx line 12 (dangerouslySetInnerHTML).")])
    use_model("back", [answer_step("BACK-1: SQL built with f-strings in db.py line 30.")])
    coordinator_model = use_model("coordinator", [answer_step("One report.")])
    group = await create_group(
        alice, [make_lane("Frontend", "front", fullstack), make_lane("Backend", "back", fullstack)]
    )

    lanes, coordinator = await execute_group(group)

    assert coordinator.status == Run.Status.SUCCEEDED, coordinator.error
    assert coordinator.final_output == "One report."
    given = model_input_text(coordinator_model.first_call)
    assert TASK in given
    for run in lanes:
        assert run.status == Run.Status.SUCCEEDED, run.error
        assert f"Lane “{run.lane_label}”: SUCCEEDED" in given
    assert "FRONT-1: XSS in App.jsx line 12 (dangerouslySetInnerHTML)." in given
    assert "BACK-1: SQL built with f-strings in db.py line 30." in given
    # The stored prompt is what the coordinator was given, not the placeholder.
    assert coordinator.prompt != WAITING_PROMPT
    assert "FRONT-1" in coordinator.prompt and "BACK-1" in coordinator.prompt


async def test_the_coordinator_runs_without_a_sandbox_or_shell_tools(alice, fullstack):
    lane_models = [use_model(n, [answer_step(f"{n} ok")]) for n in ("a", "b")]
    coordinator_model = use_model("coordinator", [answer_step("Merged.")])
    group = await create_group(
        alice, [make_lane("A", "a", fullstack), make_lane("B", "b", fullstack)]
    )

    _, coordinator = await execute_group(group)

    assert coordinator.status == Run.Status.SUCCEEDED, coordinator.error
    assert coordinator.session_id is None
    assert await SandboxSession.objects.acount() == 2  # the lanes' only
    coordinator_tools = {tool.name for tool in coordinator_model.first_call.tools}
    assert "exec_command" not in coordinator_tools
    assert "apply_patch" not in coordinator_tools
    # The lanes, for contrast, were given the shell.
    for model in lane_models:
        assert "exec_command" in {tool.name for tool in model.first_call.tools}


async def test_a_failing_lane_fails_alone_and_the_coordinator_is_told_why(alice, fullstack):
    use_model("a", [shell_step("sleep 1", "slow-a"), answer_step("A: two findings.")])
    use_model("b", [ModelStep.raise_error(RuntimeError("provider overloaded (503)"))])
    use_model("c", [shell_step("sleep 1", "slow-c"), answer_step("C: one finding.")])
    coordinator_model = use_model("coordinator", [answer_step("Merged what there was.")])
    group = await create_group(
        alice,
        [
            make_lane("A", "a", fullstack),
            make_lane("B", "b", fullstack),
            make_lane("C", "c", fullstack),
        ],
    )

    (a, b, c), coordinator = await execute_group(group)

    assert b.status == Run.Status.FAILED
    assert "provider overloaded (503)" in b.error
    assert b.finished_at is not None
    assert (a.status, c.status) == (Run.Status.SUCCEEDED, Run.Status.SUCCEEDED), (a.error, c.error)
    assert (a.final_output, c.final_output) == ("A: two findings.", "C: one finding.")
    # B failed while A and C were still working, and they carried on.
    assert b.finished_at < a.finished_at and b.finished_at < c.finished_at
    assert coordinator.status == Run.Status.SUCCEEDED, coordinator.error
    given = model_input_text(coordinator_model.first_call)
    assert "1 of them did not succeed" in given
    assert "Lane “B”: FAILED" in given
    assert "provider overloaded (503)" in given
    assert "Lane “A”: SUCCEEDED" in given and "A: two findings." in given
    assert "Lane “C”: SUCCEEDED" in given and "C: one finding." in given


async def test_a_lane_whose_sandbox_fails_to_start_is_reported_to_the_coordinator(
    alice, fullstack, monkeypatch
):
    monkeypatch.delenv("E2B_API_KEY", raising=False)  # an E2B lane on a server without E2B
    use_model("a", [answer_step("A looked.")])
    lost = use_model("b", [answer_step("never reached")])
    coordinator_model = use_model("coordinator", [answer_step("Merged.")])
    group = await create_group(
        alice,
        [
            make_lane("A", "a", fullstack),
            make_lane("B", "b", fullstack, backend=SandboxSession.Backend.E2B),
        ],
    )

    (a, b), coordinator = await execute_group(group)

    assert a.status == Run.Status.SUCCEEDED, a.error
    assert b.status == Run.Status.FAILED
    assert b.error.startswith("Its sandbox did not start: ")
    assert "E2B backend is not configured" in b.error
    assert b.started_at is None and b.finished_at is not None
    assert lost.calls == ()  # no agent ran without a sandbox
    assert b.session.status == SandboxSession.Status.FAILED
    assert "E2B backend is not configured" in b.session.last_error
    # The run's log ends with its failed state, so its page shows why.
    last = (await events_of(b))[-1]
    assert last.kind == "state" and last.payload["status"] == "failed"
    assert coordinator.status == Run.Status.SUCCEEDED, coordinator.error
    given = model_input_text(coordinator_model.first_call)
    assert "Lane “B”: FAILED" in given
    assert "Its sandbox did not start" in given and "E2B backend is not configured" in given
    assert "A looked." in given


async def test_cancelling_the_group_cancels_every_active_run(alice, fullstack):
    use_model("a", [shell_step("sleep 30", "slow-a"), answer_step("too late")])
    use_model("b", [shell_step("sleep 30", "slow-b"), answer_step("too late")])
    coordinator_model = use_model("coordinator", [answer_step("never")])
    group = await create_group(
        alice, [make_lane("A", "a", fullstack), make_lane("B", "b", fullstack)]
    )
    execution = asyncio.create_task(lane_group_execute(group_id=group.pk))
    try:
        # Wait until both lanes are inside their `sleep 30`.
        for _ in range(200):
            await asyncio.sleep(0.05)
            sleeping = await Run.objects.filter(
                lane_group=group, status=Run.Status.RUNNING, events__kind="tool_call"
            ).acount()
            if sleeping == 2:
                break
        assert sleeping == 2
        await asyncio.sleep(0.3)

        await lane_group_cancel(group=group)
        await asyncio.wait_for(execution, timeout=20)
    finally:
        if not execution.done():
            execution.cancel()

    lanes, coordinator = await group_runs(group)
    assert [r.status for r in lanes] == [Run.Status.CANCELLED] * 2
    assert {r.error for r in lanes} == {"Cancelled by the user."}
    assert coordinator.status == Run.Status.CANCELLED
    assert coordinator.error == "Cancelled before it started."
    assert coordinator_model.calls == ()
    assert all(r.finished_at is not None for r in [*lanes, coordinator])
    assert not await Run.objects.filter(status__in=Run.ACTIVE_STATUSES).aexists()


async def test_a_coordinator_orphaned_by_a_server_restart_does_not_stay_queued(
    alice, fullstack, settings
):
    group = await create_group(
        alice, [make_lane("A", "a", fullstack), make_lane("B", "b", fullstack)]
    )
    # What a restart mid-group leaves: lanes running with a stale heartbeat, the coordinator
    # queued, and no process left to execute either.
    long_ago = timezone.now() - timedelta(seconds=settings.RUN_STALE_SECONDS * 3)
    await Run.objects.filter(lane_group=group).aupdate(created_at=long_ago)
    await Run.objects.filter(lane_group=group, is_coordinator=False).aupdate(
        status=Run.Status.RUNNING, started_at=long_ago, heartbeat_at=long_ago
    )

    await reap_stale_runs()

    lanes, coordinator = await group_runs(group)
    assert [r.status for r in lanes] == [Run.Status.INTERRUPTED] * 2
    assert coordinator.status != Run.Status.QUEUED


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, MAX_LANES + 1])
def test_fewer_than_two_or_more_than_six_lanes_are_refused(alice, fullstack, enqueued, count):
    lanes = [make_lane(f"L{i}", "demo", fullstack) for i in range(count)]

    with pytest.raises(LaneGroupRefused, match=re.escape("A lane group has 2 to 6 lanes.")):
        lane_group_create(owner=alice, title="T", task=TASK, lanes=lanes, coordinator=COORDINATOR)

    assert not LaneGroup.objects.exists()
    assert not Run.objects.exists()
    assert not SandboxSession.objects.exists()
    assert enqueued == []


@pytest.mark.parametrize("count", [2, MAX_LANES])
def test_two_to_six_lanes_are_accepted(alice, fullstack, enqueued, count):
    lanes = [make_lane(f"L{i}", "demo", fullstack) for i in range(count)]

    group = lane_group_create(
        owner=alice, title="T", task=TASK, lanes=lanes, coordinator=COORDINATOR
    )

    assert group.runs.filter(is_coordinator=False).count() == count
    assert group.runs.filter(is_coordinator=True).count() == 1
    assert enqueued == [(group.pk,)]


def test_another_user_s_sandbox_cannot_be_a_lane(alice, bob, fullstack, enqueued):
    bobs = SandboxSession.objects.create(
        owner=bob, manifest=fullstack, name="bob's box", status=SandboxSession.Status.RUNNING
    )
    lanes = [make_lane("Mine", "demo", fullstack), make_lane("Theirs", "demo", None)]
    lanes[1].session = bobs

    with pytest.raises(
        LaneGroupRefused, match=re.escape("Lane “Theirs”: that sandbox is not yours.")
    ):
        lane_group_create(owner=alice, title="T", task=TASK, lanes=lanes, coordinator=COORDINATOR)

    assert not LaneGroup.objects.exists()
    assert not Run.objects.exists()
    assert list(SandboxSession.objects.all()) == [bobs]
    assert enqueued == []


def test_one_sandbox_cannot_be_two_lanes(alice, fullstack, enqueued):
    box = SandboxSession.objects.create(
        owner=alice, manifest=fullstack, name="my box", status=SandboxSession.Status.RUNNING
    )
    lanes = [make_lane("One", "demo", None), make_lane("Two", "demo", None)]
    for spec in lanes:
        spec.session = box

    with pytest.raises(LaneGroupRefused):
        lane_group_create(owner=alice, title="T", task=TASK, lanes=lanes, coordinator=COORDINATOR)

    assert not LaneGroup.objects.exists()
    assert enqueued == []


def test_the_lane_form_does_not_offer_another_user_s_sandbox(client, alice, bob, fullstack):
    bobs = SandboxSession.objects.create(
        owner=bob, manifest=fullstack, name="bob's box", status=SandboxSession.Status.RUNNING
    )
    agent = AgentConfig.objects.create(owner=alice, name="Reviewer", model="demo")
    client.login(username="alice", password=PASSWORD)

    page = client.get(reverse("lane_group_new")).content.decode()
    assert "bob&#x27;s box" not in page and "bob's box" not in page

    data = {
        "title": "Mine",
        "task": TASK,
        "coordinator": agent.pk,
        **{f"agent_{i}": agent.pk for i in (1, 2)},
        **{f"prompt_{i}": "Look." for i in (1, 2)},
        "manifest_1": fullstack.pk,
        "session_2": bobs.pk,
    }
    response = client.post(reverse("lane_group_new"), data)

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not LaneGroup.objects.exists()


# --- views ---------------------------------------------------------------------------------------


@pytest.fixture
def alices_group(alice, fullstack):
    return lane_group_create(
        owner=alice,
        title="Alice's review",
        task=TASK,
        lanes=[make_lane("Frontend", "demo", fullstack), make_lane("Backend", "demo", fullstack)],
        coordinator=COORDINATOR,
    )


def test_other_users_get_404_for_a_lane_group_and_its_cancel(client, alice, bob, alices_group):
    assert client.login(username="bob", password=PASSWORD)

    assert client.get(alices_group.get_absolute_url()).status_code == 404
    response = client.post(reverse("lane_group_cancel", args=[alices_group.pk]))
    assert response.status_code == 404
    assert set(alices_group.runs.values_list("status", flat=True)) == {Run.Status.QUEUED}
    assert not alices_group.runs.filter(cancel_requested=True).exists()

    # Alice sees her group, and can cancel it.
    client.logout()
    assert client.login(username="alice", password=PASSWORD)
    page = client.get(alices_group.get_absolute_url()).content.decode()
    assert "Alice&#x27;s review" in page
    assert "Frontend" in page and "Backend" in page and "Synthesis" in page
    response = client.post(reverse("lane_group_cancel", args=[alices_group.pk]))
    assert response.status_code == 302
    assert response.url == alices_group.get_absolute_url()
    assert set(alices_group.runs.values_list("status", flat=True)) == {Run.Status.CANCELLED}


def test_a_coordinator_s_run_page_leads_back_to_its_lane_group(client, alice, alices_group):
    assert client.login(username="alice", password=PASSWORD)
    coordinator = alices_group.runs.get(is_coordinator=True)

    page = client.get(coordinator.get_absolute_url()).content.decode()

    assert '<a href=""></a>' not in page
    assert f'href="{alices_group.get_absolute_url()}"' in page


def test_the_presets_page_launches_the_code_review_agent_led(client, alice, fullstack, enqueued):
    assert client.login(username="alice", password=PASSWORD)
    assert client.get(reverse("presets")).status_code == 200

    response = client.post(reverse("presets"), {"preset": "code-review", "review-model": "demo"})

    group = LaneGroup.objects.get(owner=alice)
    assert response.status_code == 302
    assert response.url == group.get_absolute_url()
    assert group.preset == presets.CODE_REVIEW
    assert group.mode == LaneGroup.Mode.AGENT
    assert enqueued == [(group.pk,)]
    # Agent-led: the lanes are tools, each bound to its own (not yet started) sandbox; no lane
    # has run yet, the coordinator decides.
    lanes = list(group.lanes.order_by("position"))
    assert [(lane.label, lane.tool_name) for lane in lanes] == [
        ("Frontend", "lane_frontend"),
        ("Backend", "lane_backend"),
        ("Repository", "lane_repository"),
    ]
    for lane in lanes:
        assert lane.config["model"] == "demo"
        assert lane.session.manifest == fullstack
        assert lane.session.backend == SandboxSession.Backend.LOCAL
        assert lane.session.status == SandboxSession.Status.CREATING
    assert len({lane.session_id for lane in lanes}) == 3
    assert not group.runs.filter(is_coordinator=False).exists()
    coordinator = group.runs.get(is_coordinator=True)
    assert coordinator.session is None
    assert coordinator.status == Run.Status.QUEUED
    assert coordinator.config["model"] == "demo"
    assert coordinator.config["capabilities"] == []
    assert coordinator.config["tool_choice"] == "required"
    assert coordinator.config["model_settings"] == {"parallel_tool_calls": True}
    assert coordinator.config["output_schema"]["properties"]["findings"]
    assert set(
        AgentConfig.objects.filter(owner=alice, preset=presets.CODE_REVIEW).values_list(
            "name", flat=True
        )
    ) == {
        "Frontend runtime reviewer",
        "Backend runtime reviewer",
        "Repository tree reviewer",
        "Review lead",
    }

    page = client.get(response.url).content.decode()
    assert page.count('data-testid="lane"') == 3
    assert 'data-testid="coordinator"' in page


def test_the_presets_page_launches_the_code_review_as_a_fixed_fan_out(
    client, alice, fullstack, enqueued
):
    assert client.login(username="alice", password=PASSWORD)

    response = client.post(
        reverse("presets"),
        {"preset": "code-review", "review-model": "demo", "review-mode": "fixed"},
    )

    group = LaneGroup.objects.get(owner=alice)
    assert response.status_code == 302
    assert group.mode == LaneGroup.Mode.FIXED
    lanes = list(group.runs.filter(is_coordinator=False).order_by("pk"))
    assert [r.lane_label for r in lanes] == ["Frontend", "Backend", "Repository"]
    for run in lanes:
        assert run.status == Run.Status.QUEUED
        assert run.session.status == SandboxSession.Status.CREATING
    assert not group.lanes.exists()
    assert group.runs.get(is_coordinator=True).config["name"] == "Review coordinator"


def test_the_presets_page_refuses_a_real_model_without_a_key(client, alice, fullstack, enqueued):
    assert client.login(username="alice", password=PASSWORD)

    response = client.post(reverse("presets"), {"preset": "code-review", "review-model": "gpt-5.4"})

    assert response.status_code == 400
    assert "Real models need OPENAI_API_KEY" in response.content.decode()
    assert not LaneGroup.objects.exists()
    assert enqueued == []


async def test_the_code_review_preset_with_the_demo_model_end_to_end(alice, fullstack, enqueued):
    group = await sync_to_async(presets.launch_code_review)(
        owner=alice, model="demo", mode=LaneGroup.Mode.FIXED
    )
    assert enqueued == [(group.pk,)]

    lanes, coordinator = await execute_group(group)

    assert [(r.lane_label, r.status, r.error) for r in lanes] == [
        (label, Run.Status.SUCCEEDED, "") for label in ("Frontend", "Backend", "Repository")
    ]
    assert coordinator.status == Run.Status.SUCCEEDED, coordinator.error
    # The demo reviewers read their part of the sample repository in their own sandboxes and
    # report findings with file:line.
    front, back, repo = (run.final_output for run in lanes)
    assert "Reviewed 6 file(s): frontend/" in front and "frontend/src/App.jsx:" in front, front
    assert "backend/app.py:" in back and "Debug mode" in back, back
    assert "backend/requirements.txt:1" in repo, repo
    # Look, read, answer; the backend lane also runs and probes the API before it answers.
    assert [run.requests for run in lanes] == [3, 4, 3]
    assert "GET /api/notes?q=' returned 500 with a traceback" in back, back
    for label in ("Frontend", "Backend", "Repository"):
        assert label in coordinator.final_output, coordinator.final_output
    assert coordinator.final_output.startswith("Offline demo synthesis")


@pytest.mark.django_db
def test_the_lane_form_says_what_each_empty_choice_means(client, alice):
    client.login(username="alice", password=PASSWORD)
    page = client.get(reverse("lane_group_new")).content.decode()
    assert "Select an option" not in page and "---------" not in page
    assert '<option value="" selected>Choose an agent…</option>' in page
    assert '<option value="" selected>New sandbox from…</option>' in page
    assert '<option value="" selected>(none: a new one)</option>' in page
