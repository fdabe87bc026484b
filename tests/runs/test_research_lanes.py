"""Deep research with several angles: an agent-led lane group, one researcher lane per angle
(each its own notes sandbox and the built-in offline docs server), and a research lead that
calls them in parallel and merges their findings, citing the union of what they fetched. One
angle (or none) is still the single run. Offline demo model, real local backend."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

import runs.tasks
from runs import presets
from runs.lanes import lane_group_execute
from runs.models import AgentConfig, Lane, LaneGroup, Run, RunEvent
from sandboxes.models import SandboxSession
from sandboxes.starters import seed_builtin_starters

pytestmark = pytest.mark.usefixtures("remove_lane_workspaces", "enqueued")

QUESTION = "What does the Agents SDK give me?"
ANGLES = ["Function tools: the function_tool decorator", "Tracing: traces, spans and processors"]
DOCS = "https://openai.github.io/openai-agents-python/"
SOURCE_LINE = re.compile(r"(?m)^\[(\d+)\] (.+?) — (\S+)$")


async def fetched_urls(run: Run) -> list[str]:
    """The URLs of the documents a run fetched through the docs MCP server (its event log)."""
    events = [e async for e in RunEvent.objects.filter(run=run).order_by("seq")]
    outputs = {e.payload["call"]: e.payload["output"] for e in events if e.kind == "tool_output"}
    calls = [e.payload for e in events if e.kind == "tool_call" and e.payload["tool"] == "fetch"]
    assert calls and all(c.get("server") == "docs" for c in calls)
    return [re.search(r"(?m)^Source: (\S+)", outputs[c["call"]])[1] for c in calls]


@pytest.mark.django_db(transaction=True)
async def test_two_angles_run_agent_led_and_the_lead_cites_what_the_lanes_fetched(alice, enqueued):
    await sync_to_async(seed_builtin_starters)()
    group = await sync_to_async(presets.launch_deep_research)(
        owner=alice, model="demo", question=QUESTION, angles=ANGLES
    )
    assert isinstance(group, LaneGroup) and group.mode == LaneGroup.Mode.AGENT
    assert enqueued == [(group.pk,)]
    lanes = [lane async for lane in Lane.objects.filter(group=group).order_by("position")]
    assert [lane.description for lane in lanes] == ANGLES  # the tool says the angle
    assert len({lane.session_id for lane in lanes}) == 2  # each its own notes sandbox
    for lane in lanes:
        assert [(s["name"], s["kind"]) for s in lane.config["mcp_servers"]] == [("docs", "builtin")]
    assert await Run.objects.filter(lane_group=group, lane__isnull=False).acount() == 0

    await asyncio.wait_for(lane_group_execute(group_id=group.pk), timeout=180)
    lead = await Run.objects.aget(lane_group=group, is_coordinator=True)
    assert lead.status == Run.Status.SUCCEEDED, lead.error
    calls = [r async for r in Run.objects.filter(parent=lead).order_by("lane__position")]
    assert [c.lane_id for c in calls] == [lane.pk for lane in lanes]  # both lanes were called
    assert all(c.status == Run.Status.SUCCEEDED for c in calls), [c.error for c in calls]

    per_lane = []
    for call, angle in zip(calls, ANGLES, strict=True):
        assert angle in call.prompt and QUESTION in call.prompt  # the lead asked it its angle
        urls = await fetched_urls(call)
        assert {u for _, _, u in SOURCE_LINE.findall(call.final_output)} == set(urls)
        session = await SandboxSession.objects.aget(pk=call.session_id)
        assert angle in Path(session.workspace_root, "notes.md").read_text()
        per_lane.append(set(urls))
    union = per_lane[0] | per_lane[1]
    assert f"{DOCS}tools/" in per_lane[0] and f"{DOCS}tracing/" in per_lane[1]  # its angle
    assert per_lane[0] & per_lane[1]  # a document both read is listed once (checked below)

    answer = lead.final_output
    assert "Offline demo coordinator" in answer and QUESTION in answer
    sources = SOURCE_LINE.findall(answer)
    assert {url for _, _, url in sources} == union  # the union, each once
    assert len(sources) == len(union)
    assert [int(n) for n, _, _ in sources] == list(range(1, len(union) + 1))
    assert all(f"## {lane.label}" in answer for lane in lanes)
    # Every citation points into the merged list, and a lane's passage keeps its document:
    # the number it cites now names the URL that lane's own list gave that passage.
    numbers = {n: url for n, _, url in sources}
    cited = re.findall(r"(?m)^- (.+) \[(\d+)\]$", answer)
    assert cited and {n for _, n in cited} <= set(numbers)
    for call in calls:
        own = {n: url for n, _, url in SOURCE_LINE.findall(call.final_output)}
        for passage, n in re.findall(r"(?m)^- (.+) \[(\d+)\]$", call.final_output):
            assert (passage, next(k for k, u in numbers.items() if u == own[n])) in cited


@pytest.mark.django_db
def test_the_form_launches_a_lane_group_for_two_angles_and_one_run_for_one(
    client, alice, enqueued, monkeypatch
):
    single: list[tuple] = []
    monkeypatch.setattr(
        runs.tasks, "run_after_session_start_task", SimpleNamespace(enqueue=single.append)
    )
    seed_builtin_starters()
    client.force_login(alice)
    url = reverse("presets")
    form = {"preset": "deep-research", "research-model": "demo", "research-builtin_docs": "on"}

    response = client.post(url, form | {"research-question": QUESTION, "research-angles": ""})
    run = Run.objects.get(owner=alice, lane_group=None, is_coordinator=False)
    assert response.status_code == 302 and response.url == run.get_absolute_url()
    assert run.prompt == QUESTION and single == [run.pk]  # today's single run, unchanged

    two = "\n".join(ANGLES) + "\n\n" + ANGLES[0] + "\n"  # blank lines and repeats dropped
    response = client.post(url, form | {"research-question": QUESTION, "research-angles": two})
    group = LaneGroup.objects.get(owner=alice)
    assert response.url == group.get_absolute_url() and group.mode == LaneGroup.Mode.AGENT
    assert [lane.description for lane in group.lanes.order_by("position")] == ANGLES
    lead = AgentConfig.objects.get(owner=alice, preset=presets.DEEP_RESEARCH, name="Research lead")
    assert lead.tool_choice == "required"
    assert enqueued == [(group.pk,)]

    response = client.post(url, form | {"research-question": QUESTION, "research-angles": "X"})
    one = Run.objects.filter(owner=alice, lane_group=None).latest("pk")
    assert response.url == one.get_absolute_url() and one.prompt == f"{QUESTION}\n\nX"

    seven = "\n".join(f"Angle number {i}" for i in range(7))
    response = client.post(url, form | {"research-question": QUESTION, "research-angles": seven})
    assert response.status_code == 400
    assert "at most 6 angles" in response.content.decode()
    assert LaneGroup.objects.filter(owner=alice).count() == 1  # nothing more made
    assert "Angle number 6" in response.content.decode()  # what was typed is kept
