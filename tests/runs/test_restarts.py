"""Conversations and paused runs outlive the process: each step below runs in a new Python
process (as after a server restart, or on another daphne or worker) over one SQLite file and
one data directory, with the real local backend and scripted models.

Nothing here uses pytest-django's test database: the processes share a file database of their
own, migrated once for this module.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ..e2e.conftest import ROOT, _manage, _server_env

PRELUDE = """
import asyncio, json, os
import django
django.setup()
from django.contrib.auth import get_user_model
from runs import services
from runs.models import Approval, Run, Thread
from sandboxes.models import Manifest, SandboxSession
from sandboxes.services import session_start
from tests.helpers import answer_step, execute_turn, input_kinds, shell_step, use_model

def report(**values):
    print("RESULT " + json.dumps(values))
"""


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> dict[str, str]:
    """The environment every process of a test gets: one database and data directory, set up
    as the browser tests' servers are (tests/e2e/conftest.py)."""
    env = _server_env(tmp_path_factory.mktemp("processes"))
    env.update(DEMO_MODEL_DELAY="0", DJANGO_SETTINGS_MODULE="config.settings", PYTHONPATH=str(ROOT))
    _manage(env, "migrate", "--noinput", "-v0")
    _manage(env, "seed")
    return env


def in_new_process(env: dict[str, str], code: str) -> dict:
    """Run `code` (async, after PRELUDE) in a fresh interpreter; returns what it report()ed."""
    body = "async def main():\n" + textwrap.indent(textwrap.dedent(code), "    ")
    script = PRELUDE + body + "\nasyncio.run(main())\n"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"process failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(lines[-1].removeprefix("RESULT "))


NEW_SESSION = """
owner, _ = await get_user_model().objects.aget_or_create(username=USER)
manifest = await Manifest.objects.aget(slug="vite-react")
session = await SandboxSession.objects.acreate(
    owner=owner, manifest=manifest, name="restarts", backend="local"
)
await session_start(session_id=session.pk)
await session.arefresh_from_db()
assert session.status == "running", session.last_error
thread = await Thread.objects.acreate(owner=owner, session=session)
"""


def test_a_conversation_continues_in_a_new_process(shared):
    first = in_new_process(
        shared,
        'USER = "carol"\n'
        + NEW_SESSION
        + """
use_model("scripted", [shell_step("echo remembered-output", "call-1"), answer_step("Turn one.")])
run = await execute_turn(thread, "Remember this", model="scripted")
report(thread=thread.pk, status=run.status, pid=os.getpid())
""",
    )
    assert first["status"] == "succeeded"

    second = in_new_process(
        shared,
        f"""
thread = await Thread.objects.aget(pk={first["thread"]})
model = use_model("scripted", [answer_step("You said: remember this.")])
run = await execute_turn(thread, "What did I say?", model="scripted")
seen = model.first_call.input
report(
    status=run.status,
    turn=run.turn,
    kinds=input_kinds(seen),
    output=seen[2]["output"],
    pid=os.getpid(),
)
""",
    )
    assert second["pid"] != first["pid"]
    assert second["status"] == "succeeded" and second["turn"] == 2
    assert second["kinds"] == ["user", "function_call", "function_call_output", "assistant", "user"]
    assert "remembered-output" in second["output"]


def test_a_paused_run_is_approved_and_continues_in_a_new_process(shared):
    paused = in_new_process(
        shared,
        'USER = "dave"\n'
        + NEW_SESSION
        + """
use_model("scripted", [shell_step("echo approved > after-restart.txt", "call-1")])
run = await execute_turn(thread, "Write it", model="scripted", approvals=["shell"])
session = await SandboxSession.objects.aget(pk=session.pk)
report(run=run.pk, status=run.status, root=session.workspace_root, pid=os.getpid())
""",
    )
    assert paused["status"] == "awaiting_approval"
    marker = Path(paused["root"], "after-restart.txt")
    assert not marker.exists()

    # Another process (a restarted server, another daphne) takes the decision; the run it
    # re-queues is executed by that process's task backend, from the stored RunState.
    resumed = in_new_process(
        shared,
        f"""
model = use_model("scripted", [answer_step("Written after the restart.")])
approval = await Approval.objects.aget(run_id={paused["run"]})
user = await get_user_model().objects.aget(username="dave")
await services.approval_decide(approval=approval, user=user, approve=True)
run = await Run.objects.aget(pk={paused["run"]})
for _ in range(400):
    await asyncio.sleep(0.05)
    await run.arefresh_from_db()
    if run.status not in ("queued", "running"):
        break
report(status=run.status, error=run.error, final=run.final_output, requests=run.requests,
       calls=len(model.calls), pid=os.getpid())
""",
    )
    assert resumed["pid"] != paused["pid"]
    assert resumed["status"] == "succeeded", resumed["error"]
    assert resumed["final"] == "Written after the restart."
    assert marker.read_text() == "approved\n"
    assert resumed["calls"] == 1  # only the step after the pause was asked of the new process
    assert resumed["requests"] == 2  # usage counts both sides of the restart
