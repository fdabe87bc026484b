"""Human approval on the real local backend with scripted models: a call that needs approval
pauses the run (nothing runs, nothing is held), a decision from anyone allowed continues it
from its stored RunState, and a run nobody answers ends timed out."""

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from agents.testing import ModelStep, function_call
from agents.usage import Usage
from django.utils import timezone

from lib.secrets import is_sealed
from runs import services
from runs.mcp import http_server_spec
from runs.models import Approval, Run, RunEvent
from runs.reaper import reap_unanswered_approvals
from sandboxes.models import SandboxSession
from sandboxes.services import session_shutdown

from ..fakes.mcp import LoopbackMCP, search_result
from ..helpers import (
    answer_step,
    events_of,
    execute_turn,
    patch_step,
    shell_step,
    until_ended,
    use_model,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def pending(run: Run) -> list[Approval]:
    return [a async for a in Approval.objects.filter(run=run).order_by("pk")]


async def test_a_shell_call_waits_and_runs_once_approved(thread, local_session, alice, tasks_here):
    marker = Path(local_session.workspace_root, "approved.txt")
    model = use_model(
        "scripted", [shell_step("echo yes > approved.txt", "call-1"), answer_step("Wrote it.")]
    )
    run = await execute_turn(thread, "Write the file", model="scripted", approvals=("shell",))

    # Paused: not succeeded, nothing ran, the RunState stored sealed, one pending approval.
    assert run.status == Run.Status.AWAITING_APPROVAL
    assert run.final_output == "" and run.finished_at is None
    assert not marker.exists()
    assert is_sealed(run.paused_state) and "approved.txt" not in run.paused_state
    [approval] = await pending(run)
    assert (approval.kind, approval.decision) == ("shell", "pending")
    assert approval.detail == {"command": "echo yes > approved.txt"}
    kinds = [e.kind for e in await events_of(run)]
    assert kinds[-2:] == ["approval_requested", "state"]
    assert (await events_of(run))[-1].payload["status"] == "awaiting_approval"
    # The sandbox was stopped and stored; nothing holds it while the run waits.
    session = await SandboxSession.objects.aget(pk=local_session.pk)
    assert session.status == SandboxSession.Status.RUNNING and session.sdk_state
    await thread.arefresh_from_db()
    assert thread.history == ""  # half a turn is never stored as history

    await services.approval_decide(approval=approval, user=alice, approve=True)
    run = await until_ended(run)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert marker.read_text() == "yes\n"
    assert run.final_output == "Wrote it."
    assert run.paused_state == ""
    # Usage adds up across the pause: both model calls.
    assert run.requests == 2 and run.total_tokens == 12 + 38
    events = await events_of(run)
    decided = next(e for e in events if e.kind == "approval_decided")
    assert decided.payload["decision"] == "approved" and decided.payload["by"] == "alice"
    output = next(e for e in events if e.kind == "tool_output")
    assert output.payload["call"] == "call-1" and output.payload["exit_code"] == 0
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert model.remaining_steps == 0
    await thread.arefresh_from_db()
    assert [i.get("type", "message") for i in thread.history_items()][1:3] == [
        "function_call",
        "function_call_output",
    ]


async def test_a_rejected_call_never_runs_and_the_model_reads_why(
    thread, local_session, alice, tasks_here
):
    model = use_model(
        "scripted",
        [shell_step("rm -rf src", "call-rm"), answer_step("Understood, I left src alone.")],
    )
    run = await execute_turn(thread, "Clean up", model="scripted", approvals=("shell",))
    [approval] = await pending(run)

    await services.approval_decide(
        approval=approval, user=alice, approve=False, reason="src is the app, keep it"
    )
    run = await until_ended(run)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert Path(local_session.workspace_root, "src/App.tsx").is_file()  # the command never ran
    told = model.last_call.input[-1]
    assert told["type"] == "function_call_output" and told["call_id"] == "call-rm"
    assert told["output"] == (
        "alice rejected this call; it did not run. Their reason: src is the app, keep it"
    )
    decided = next(e for e in await events_of(run) if e.kind == "approval_decided")
    assert decided.payload["decision"] == "rejected"
    assert decided.payload["reason"] == "src is the app, keep it"


async def test_a_patch_waits_and_a_rejected_one_writes_nothing(
    thread, local_session, alice, tasks_here
):
    patch = "*** Begin Patch\n*** Add File: SECRET_PLAN.md\n+plan\n*** End Patch\n"
    use_model("scripted", [patch_step(patch, "patch-1"), answer_step("No patch then.")])
    run = await execute_turn(thread, "Add a plan", model="scripted", approvals=("patch",))

    [approval] = await pending(run)
    assert approval.kind == "patch" and approval.detail["patch"] == patch
    await services.approval_decide(approval=approval, user=alice, approve=False)
    run = await until_ended(run)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert not Path(local_session.workspace_root, "SECRET_PLAN.md").exists()


async def test_shell_approval_does_not_gate_patches_and_vice_versa(thread, local_session):
    patch = "*** Begin Patch\n*** Add File: free.txt\n+free\n*** End Patch\n"
    use_model("scripted", [patch_step(patch, "p-1"), answer_step("Done.")])
    run = await execute_turn(thread, "Patch freely", model="scripted", approvals=("shell",))
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert Path(local_session.workspace_root, "free.txt").read_text() == "free"


async def test_approve_all_of_a_kind_covers_the_rest_of_the_run(
    thread, local_session, alice, tasks_here
):
    use_model(
        "scripted",
        [
            shell_step("echo 1 > one.txt", "call-1"),
            shell_step("echo 2 > two.txt", "call-2"),
            answer_step("Both."),
        ],
    )
    run = await execute_turn(thread, "Two files", model="scripted", approvals=("shell",))
    [approval] = await pending(run)
    await services.approval_decide(approval=approval, user=alice, approve=True, always=True)
    run = await until_ended(run)

    assert run.status == Run.Status.SUCCEEDED, run.error  # the second call did not ask
    assert Path(local_session.workspace_root, "two.txt").read_text() == "2\n"
    assert [a.call_id for a in await pending(run)] == ["call-1"]

    # The next turn asks again: "all of this kind" lasts one run.
    use_model("scripted", [shell_step("echo 3 > three.txt", "call-3"), answer_step("Three.")])
    nxt = await execute_turn(thread, "One more", model="scripted", approvals=("shell",))
    assert nxt.status == Run.Status.AWAITING_APPROVAL


async def test_parallel_calls_wait_for_every_decision(thread, local_session, alice, tasks_here):
    both = ModelStep(
        output=[
            function_call("exec_command", {"cmd": "echo a > a.txt"}, call_id="call-a"),
            function_call("exec_command", {"cmd": "echo b > b.txt"}, call_id="call-b"),
        ],
        usage=Usage(requests=1, input_tokens=10, output_tokens=4, total_tokens=14),
    )
    use_model("scripted", [both, answer_step("a only.")])
    run = await execute_turn(thread, "Both files", model="scripted", approvals=("shell",))
    first, second = await pending(run)

    await services.approval_decide(approval=first, user=alice, approve=True)
    await asyncio.sleep(0.2)
    await run.arefresh_from_db()
    assert run.status == Run.Status.AWAITING_APPROVAL  # still one to decide
    with pytest.raises(services.ApprovalRefused, match="already approved"):
        await services.approval_decide(approval=first, user=alice, approve=False)

    await services.approval_decide(approval=second, user=alice, approve=False)
    run = await until_ended(run)
    root = Path(local_session.workspace_root)
    assert (root / "a.txt").exists() and not (root / "b.txt").exists()


async def test_a_run_nobody_answers_ends_timed_out(thread, local_session, settings):
    settings.RUN_APPROVAL_TIMEOUT_SECONDS = 600
    use_model("scripted", [shell_step("echo late > late.txt", "call-1"), answer_step("x")])
    run = await execute_turn(thread, "Wait", model="scripted", approvals=("shell",))
    assert await reap_unanswered_approvals() == 0  # not yet

    await Run.objects.filter(pk=run.pk).aupdate(
        awaiting_since=timezone.now() - timedelta(seconds=601)
    )
    assert await reap_unanswered_approvals() == 1
    await run.arefresh_from_db()
    assert run.status == Run.Status.TIMED_OUT and run.finished_at is not None
    assert "within 10 min" in run.error and "never ran" in run.error
    assert run.paused_state == ""
    [approval] = await pending(run)
    assert approval.decision == Approval.Decision.EXPIRED
    last = await RunEvent.objects.filter(run=run).order_by("-seq").afirst()
    assert last.payload["status"] == "timed_out"
    assert not Path(local_session.workspace_root, "late.txt").exists()
    # The session is free again.
    assert await services.session_runs_busy(local_session) is None


async def test_cancelling_a_waiting_run_ends_it_and_frees_the_sandbox(thread, local_session):
    use_model("scripted", [shell_step("echo x > x.txt", "call-1"), answer_step("x")])
    run = await execute_turn(thread, "Wait", model="scripted", approvals=("shell",))
    assert "awaiting approval" in (await services.session_runs_busy(local_session) or "")

    await services.run_cancel(run=run)
    await run.arefresh_from_db()
    assert run.status == Run.Status.CANCELLED
    [approval] = await pending(run)
    assert approval.decision == Approval.Decision.CANCELLED
    assert await services.session_runs_busy(local_session) is None
    with pytest.raises(services.ApprovalRefused, match="cancelled"):
        await services.approval_decide(approval=approval, user=None, approve=True)


async def test_the_demo_model_pauses_like_a_real_model(thread, local_session, alice, tasks_here):
    app = Path(local_session.workspace_root, "src/App.tsx")
    starter = app.read_text()
    run = await execute_turn(
        thread, "A landing page for a bakery in Lyon", approvals=("shell", "patch")
    )
    assert run.status == Run.Status.AWAITING_APPROVAL
    [look] = await pending(run)
    assert look.detail["command"].startswith("pwd && ls -la")

    # Approve every shell command; the patch still asks, and is rejected.
    await services.approval_decide(approval=look, user=alice, approve=True, always=True)
    run = await until_ended(run)
    assert run.status == Run.Status.AWAITING_APPROVAL
    patch = (await pending(run))[-1]
    assert patch.kind == "patch" and "+const page = {" in patch.detail["patch"]
    await services.approval_decide(approval=patch, user=alice, approve=False, reason="not yet")
    run = await until_ended(run)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert app.read_text() == starter
    assert "You rejected the patch to src/App.tsx" in run.final_output


async def test_shutting_the_sandbox_down_ends_a_waiting_run(thread, local_session):
    use_model("scripted", [shell_step("echo x > x.txt", "call-1"), answer_step("x")])
    run = await execute_turn(thread, "Wait", model="scripted", approvals=("shell",))
    assert run.status == Run.Status.AWAITING_APPROVAL

    await session_shutdown(session=local_session)
    await run.arefresh_from_db()
    assert run.status == Run.Status.CANCELLED
    assert "never ran" in run.error
    [approval] = await pending(run)
    assert approval.decision == Approval.Decision.CANCELLED


async def test_an_mcp_tool_call_waits_and_the_server_is_not_called_until_approved(
    thread, local_session, alice, tasks_here
):
    server = LoopbackMCP().start()
    try:
        mcp = [http_server_spec(name="search", url=server.url, headers={})]
        search = ModelStep(
            output=[function_call("search", {"query": "approvals"}, call_id="mcp-1")],
            usage=Usage(requests=1, input_tokens=12, output_tokens=4, total_tokens=16),
        )
        use_model("scripted", [search, answer_step("Searched.")])
        run = await execute_turn(
            thread, "Search", model="scripted", approvals=("mcp",), mcp_servers=mcp
        )
        assert run.status == Run.Status.AWAITING_APPROVAL
        [approval] = await pending(run)
        assert (approval.kind, approval.tool) == ("mcp", "search")
        assert approval.detail == {"server": "search", "arguments": '{"query":"approvals"}'}
        assert server.queries == []  # nothing reached the server

        # The continuation reconnects the server (the RunState needs its tools) and calls it.
        await services.approval_decide(approval=approval, user=alice, approve=True)
        run = await until_ended(run, 60)
        assert run.status == Run.Status.SUCCEEDED, run.error
        assert server.queries == ["approvals"]
        output = next(e for e in await events_of(run) if e.kind == "tool_output")
        assert search_result("approvals") in output.payload["output"]
    finally:
        server.stop()
