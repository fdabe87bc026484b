"""Runs on the real local backend with scripted models: the event log, usage, endings."""

import asyncio
from pathlib import Path

import pytest
from agents.testing import ModelStep

from runs.demo import landing
from runs.models import Run
from sandboxes.models import SandboxSession

from ..helpers import answer_step, events_of, execute, patch_step, shell_step, use_model

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_stores_every_event_in_order_with_usage(local_session):
    use_model(
        "scripted",
        [
            shell_step("echo hello-from-sandbox", "call-1", tokens=10),
            shell_step("ls src", "call-2", tokens=20),
            answer_step("All done."),
        ],
    )
    run = await execute(local_session, model="scripted")

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.final_output == "All done."
    assert (run.requests, run.input_tokens, run.output_tokens, run.total_tokens) == (
        3,
        60,
        12,
        72,
    )
    events = await events_of(run)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    kinds = [e.kind for e in events]
    assert kinds[0] == "state" and events[0].payload["status"] == "running"
    assert events[-1].kind == "state" and events[-1].payload["status"] == "succeeded"
    assert events[-1].payload["usage"]["total_tokens"] == 72
    calls = [e.payload for e in events if e.kind == "tool_call"]
    assert [c["command"] for c in calls] == ["echo hello-from-sandbox", "ls src"]
    outputs = [e.payload for e in events if e.kind == "tool_output"]
    assert [o["call"] for o in outputs] == ["call-1", "call-2"]
    assert "hello-from-sandbox" in outputs[0]["output"]
    assert "App.tsx" in outputs[1]["output"]
    # Each call's output comes after the call itself.
    assert kinds.index("tool_output") > kinds.index("tool_call")
    messages = [e.payload["text"] for e in events if e.kind == "message"]
    assert messages == ["All done."]


async def test_a_streamed_patch_lands_in_the_workspace(local_session):
    patch = (
        "*** Begin Patch\n*** Add File: NOTES.md\n+# Notes\n+written by the agent\n*** End Patch\n"
    )
    use_model("scripted", [patch_step(patch, "patch-1"), answer_step("Patched.")])
    run = await execute(local_session, model="scripted")

    assert run.status == Run.Status.SUCCEEDED, run.error
    notes = Path(local_session.workspace_root, "NOTES.md")
    assert notes.read_text().splitlines() == ["# Notes", "written by the agent"]
    events = await events_of(run)
    patch_calls = [e.payload for e in events if e.kind == "tool_call"]
    assert patch_calls[0]["tool"] == "apply_patch"
    assert "+written by the agent" in patch_calls[0]["input"]


async def test_the_demo_model_builds_the_page_the_prompt_describes(local_session):
    prompt = "A dark landing page for a green tea shop. Add a menu."
    run = await execute(local_session, prompt=prompt, model="demo")

    assert run.status == Run.Status.SUCCEEDED, run.error
    app = Path(local_session.workspace_root, "src/App.tsx").read_text()
    spec = landing.spec_from_source(app)
    assert spec["brand"] == "Green Tea Shop"
    assert spec["theme"] == "dark"  # "dark" chose the dark theme
    assert "Built by the offline demo model (a script, no LLM)" in app
    assert "I built a landing page for “Green Tea Shop”" in run.final_output
    assert run.requests >= 4 and run.total_tokens > 0
    kinds = [e.kind for e in await events_of(run)]
    assert {"reasoning", "tool_call", "tool_output", "text_delta", "message"} <= set(kinds)


async def test_a_later_run_sees_the_edits_of_an_earlier_one(local_session):
    await execute(local_session, prompt="First version", model="demo")
    await local_session.arefresh_from_db()
    use_model("scripted", [shell_step("cat src/App.tsx", "read"), answer_step("Seen.")])
    run = await execute(local_session, model="scripted")

    output = next(e.payload["output"] for e in await events_of(run) if e.kind == "tool_output")
    assert '"First version"' in output


async def test_a_failing_model_ends_the_run_failed_with_its_message(local_session):
    use_model(
        "scripted",
        [shell_step("true", "c1"), ModelStep.raise_error(RuntimeError("model is overloaded"))],
    )
    run = await execute(local_session, model="scripted")

    assert run.status == Run.Status.FAILED
    assert "model is overloaded" in run.error
    last = (await events_of(run))[-1]
    assert last.kind == "state" and last.payload["status"] == "failed"
    assert "model is overloaded" in last.payload["error"]
    # The sandbox survives a model failure.
    await local_session.arefresh_from_db()
    assert local_session.status == SandboxSession.Status.RUNNING


async def test_running_out_of_turns_fails_with_a_clear_message(local_session):
    use_model("scripted", [shell_step("true", f"c{i}") for i in range(5)])
    run = await execute(local_session, model="scripted", max_turns=2)

    assert run.status == Run.Status.FAILED
    assert "2 turns" in run.error


async def test_a_dead_sandbox_fails_the_run_and_the_session(local_session):
    local_session.sdk_state["manifest"]["root"] = "/proc/definitely/not/writable"
    local_session.sdk_state["workspace_root_owned"] = False
    await local_session.asave()
    use_model("scripted", [answer_step("never reached")])
    run = await execute(local_session, model="scripted")

    assert run.status == Run.Status.FAILED
    assert run.error
    await local_session.arefresh_from_db()
    assert local_session.status == SandboxSession.Status.FAILED
    assert local_session.last_error


async def test_a_run_on_a_stopped_session_fails_clearly(local_session):
    local_session.status = SandboxSession.Status.STOPPED
    await local_session.asave()
    run = await execute(local_session, model="demo")

    assert run.status == Run.Status.FAILED
    assert "stopped" in run.error


async def test_cancel_stops_a_running_run(local_session):
    use_model("scripted", [shell_step("sleep 30", "slow"), answer_step("too late")])
    run = await Run.objects.acreate(
        owner_id=local_session.owner_id,
        session=local_session,
        config={"name": "A", "model": "scripted", "capabilities": ["shell"], "max_turns": 5},
        prompt="wait",
    )
    from runs.executor import run_execute
    from runs.services import run_cancel

    task = asyncio.create_task(run_execute(run_id=run.pk))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if await Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).aexists():
            break
    await asyncio.sleep(0.3)
    await run_cancel(run=run)
    await asyncio.wait_for(task, timeout=15)
    await run.arefresh_from_db()

    assert run.status == Run.Status.CANCELLED
    assert run.finished_at is not None
    last = (await events_of(run))[-1]
    assert last.payload["status"] == "cancelled"


async def test_cancel_of_a_queued_run_ends_it_at_once(local_session):
    from runs.services import run_cancel

    run = await Run.objects.acreate(
        owner_id=local_session.owner_id, session=local_session, config={}, prompt="x"
    )
    await run_cancel(run=run)
    await run.arefresh_from_db()
    assert run.status == Run.Status.CANCELLED
    assert [e.payload["status"] for e in await events_of(run)] == ["cancelled"]


async def test_agent_commands_do_not_see_the_dashboards_secrets(local_session, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-dashboard-secret")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "django-secret-value")
    use_model("scripted", [shell_step("env; echo PATH-IS-$PATH", "env"), answer_step("ok")])
    run = await execute(local_session, model="scripted")

    output = next(e.payload["output"] for e in await events_of(run) if e.kind == "tool_output")
    assert "PATH-IS-/" in output  # commands still find their tools
    assert "sk-dashboard-secret" not in output
    assert "django-secret-value" not in output
