"""Server restarts, through a real browser against real daphne processes this file owns.

* A sandbox outlives the server: stop daphne, start another on the same database, data directory
  and port, and the same sandbox (with the first run's edits) takes the next run.
* A server killed mid-run: the next server's reaper interrupts the run with the reason, its event
  log stays gapless, and nothing is left running in the sandbox's workspace.
* A run awaiting approval outlives the server: its paused state is in the database, so after a
  restart the same page approves it and the run continues to the end.

Unlike the shared `server` fixture, each test here starts, stops and kills its own daphne.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .conftest import (
    CREATE_USERS,
    ROOT,
    RUN_TIMEOUT,
    VENV_BIN,
    _data_dir,
    _free_port,
    _manage,
    _server_env,
    _wait_for_server,
    context_factory,
    follow_up,
    login,
    open_sandbox,
    shot,
    start_run,
    turn,
    wait_until_finished,
    wait_until_turn_finished,
)

pytestmark = pytest.mark.e2e

PROMPT_X = "A dark dashboard for a green tea shop. Show today's teas and a loyalty counter."
BRAND_X = "Green Tea Shop"  # the demo names the page after the brief's subject
PROMPT_Y = "A bright page for a bakery in Lyon. List the croissants."
BRAND_Y = "Lyon Bakery"
STOP_TIMEOUT = 20
DATABASE = "e2e.sqlite3"  # the name tests/e2e/conftest.py:_server_env gives it
REAP_TIMEOUT = 30  # seconds for the restarted server's reaper to interrupt the run


class Daphne:
    """One dashboard at a time on a fixed port, over one database and one data directory.

    Each daphne is the leader of its own process group, so killing "the server" can mean the
    whole group. Every process this starts is ended by close().
    """

    def __init__(self, tmp: Path, prepared: Path, artifacts: Path, name: str, **env: str) -> None:
        self.tmp = tmp
        self.artifacts = artifacts
        self.name = name
        self.env = _server_env(tmp) | env
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = tmp / DATABASE
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []
        # A fresh copy of a migrated and seeded database, with its data directory.
        for path in prepared.glob(f"{DATABASE}*"):
            shutil.copy2(path, tmp / path.name)
        shutil.copytree(_data_dir(prepared), self.env["DASHBOARD_DATA_DIR"], dirs_exist_ok=True)

    @property
    def process(self) -> subprocess.Popen:
        return self.processes[-1]

    def start(self, *, request: bool = True) -> None:
        """Start daphne; returns once it answered its first request, or (request=False) once
        it accepts connections, having served nothing."""
        log_path = self.tmp / f"daphne-{len(self.processes) + 1}.log"
        command = [VENV_BIN / "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [*command, "config.asgi:application"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        self.logs.append(log_path)
        if request:
            _wait_for_server(process, f"{self.url}/login/", log_path)
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return  # a bare connection: no request reaches the application
            time.sleep(0.1)
        pytest.fail(f"daphne never listened:\n{log_path.read_text()}", pytrace=False)

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; waits for it to exit."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_TIMEOUT)

    def kill(self) -> int:
        """SIGKILL the whole process group: nothing in it gets to clean up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait(timeout=STOP_TIMEOUT)

    def query(self, sql: str, *params) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(self.database, timeout=20)) as db:
            return db.execute(sql, params).fetchall()

    def workspace(self, session_id: int) -> str:
        [(state,)] = self.query(
            "SELECT sdk_state FROM sandboxes_sandboxsession WHERE id = ?", session_id
        )
        return json.loads(state)["manifest"]["root"]

    def close(self, failed: bool) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
            leader = process.pid
            for pid in processes_where(lambda _cwd, group, leader=leader: group == leader):
                kill_quietly(pid)  # what is left of this daphne's own process group
        # Sandbox commands and previews run in their own sessions: whatever this test's servers
        # left in its workspaces.
        for pid in processes_where(lambda cwd, _group: inside(cwd, self.tmp)):
            kill_quietly(pid)
        for number, log in enumerate(self.logs, 1):
            (self.artifacts / f"{self.name}-daphne-{number}.log").write_text(log.read_text())
            if failed:
                sys.stderr.write(f"\n----- {self.name}: daphne #{number} log -----\n")
                sys.stderr.write(log.read_text())


def inside(path: str, root: str | Path) -> bool:
    root = os.path.realpath(root)
    return path == root or path.startswith(root + os.sep)


def processes_where(match) -> list[int]:
    """Live (non-zombie) processes for which match(cwd, process_group) is true."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cwd = os.path.realpath(os.readlink(f"/proc/{entry}/cwd"))
        except OSError:
            continue
        state, _ppid, group = stat.rsplit(")", 1)[1].split()[:3]
        if state not in ("Z", "X") and match(cwd, int(group)):
            found.append(int(entry))
    return found


def kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A database migrated and seeded, with alice and bob, as the shared `server` makes it."""
    base = tmp_path_factory.mktemp("restart-prepared")
    env = _server_env(base)
    _manage(env, "migrate", "--noinput", "-v0")
    _manage(env, "seed")
    _manage(env, "shell", "-c", CREATE_USERS)
    return base


@pytest.fixture
def daphne(request, tmp_path_factory, prepared, artifacts) -> Iterator:
    """Factory: a Daphne over a fresh database and data directory (not started yet)."""
    made: list[Daphne] = []

    def make(**env: str) -> Daphne:
        name = request.node.name
        server = Daphne(tmp_path_factory.mktemp("restart"), prepared, artifacts, name, **env)
        made.append(server)
        return server

    yield make
    failed = request.session.testsfailed > 0
    for server in made:
        server.close(failed)


@pytest.fixture
def browser_context(browser, page_errors) -> Iterator:
    """Factory for browser contexts on a given server; their pages must raise no JS errors."""
    with context_factory(browser, page_errors) as make:
        yield make


def first_read_of_app(page: Page, run_id: int):
    """The log item of the run's first shell command that reads src/App.tsx."""
    item = page.locator(f"#run-{run_id}-log > li.ev-tool").filter(
        has=page.locator("pre.cmd", has_text="src/App.tsx")
    )
    return item.first


def test_a_sandbox_outlives_a_server_restart(daphne, browser_context):
    server = daphne()
    server.start()
    page = login(browser_context(server.url), "alice")
    session_id = open_sandbox(page)
    run_x = start_run(page, PROMPT_X)
    wait_until_finished(page)
    expect(page.get_by_test_id("run-status")).to_have_text("Succeeded")
    expect(page.get_by_test_id("final-output")).to_contain_text(BRAND_X)
    workspace = server.workspace(session_id)
    app = Path(workspace, "src/App.tsx")
    assert BRAND_X in app.read_text()
    page.goto("about:blank")  # no socket open while the server goes away

    assert server.stop() in (0, -signal.SIGTERM)
    assert server.query("SELECT status FROM runs_run WHERE id = ?", run_x) == [("succeeded",)]
    server.start()  # the same database, data directory and port

    page.goto(f"/sessions/{session_id}/")
    expect(page.get_by_test_id("session-status")).to_have_text("Running")
    files = page.locator("ul.files code").all_inner_texts()
    assert {"package.json", "src/App.tsx", "vite.config.js"} <= set(files), files
    expect(page.locator("table.table").get_by_role("link", name=f"#{run_x}")).to_be_visible()
    shot(page, "restart-01-session-after-restart")

    # The next turn of the same conversation, after the restart.
    run_y = follow_up(page, PROMPT_Y)
    wait_until_turn_finished(page, run_y)
    expect(turn(page, run_y).get_by_test_id("run-status")).to_have_text("Succeeded")
    expect(turn(page, run_y).get_by_test_id("final-output")).to_contain_text(BRAND_Y)
    expect(turn(page, run_y).get_by_test_id("final-output")).to_contain_text("Turn 2")
    # The new run read the file the first run wrote: the same sandbox, resumed with its edits.
    read = first_read_of_app(page, run_y)
    expect(read.locator("pre.cmd")).to_contain_text("src/App.tsx")
    expect(read.locator("pre.out")).to_contain_text(BRAND_X)
    expect(read.locator("pre.out")).not_to_contain_text(BRAND_Y)
    shot(page, "restart-02-second-run")
    assert server.workspace(session_id) == workspace
    assert BRAND_Y in app.read_text()
    assert server.query(
        "SELECT status, last_error FROM sandboxes_sandboxsession WHERE id = ?", session_id
    ) == [("running", "")]
    page.goto("about:blank")
    assert server.stop() in (0, -signal.SIGTERM)


def test_a_run_killed_with_its_server_is_interrupted_by_the_next_server(daphne, browser_context):
    server = daphne(RUN_STALE_SECONDS="4", RUN_HEARTBEAT_SECONDS="1", DEMO_MODEL_DELAY="0.5")
    server.start()
    page = login(browser_context(server.url), "alice")
    session_id = open_sandbox(page)
    workspace = server.workspace(session_id)
    run_id = start_run(page, PROMPT_X)
    page.wait_for_function(
        "(runId) => document.querySelectorAll(`#run-${runId}-log > li.ev`).length >= 3",
        arg=run_id,
        timeout=30_000,
    )
    expect(page.get_by_test_id("run-status")).to_have_text("Running")
    # A stand-in for what a run leaves running in its sandbox when its server dies (a dev
    # server, `npm install`): like the SDK's commands, in its own session, cwd in the workspace.
    leftover = subprocess.Popen(
        ["sleep", "300"], cwd=Path(workspace, "src"), start_new_session=True
    )
    try:
        page.goto("about:blank")
        assert server.kill() == -signal.SIGKILL
        [(status, events_before)] = server.query(
            "SELECT status, (SELECT COUNT(*) FROM runs_runevent WHERE run_id = runs_run.id) "
            "FROM runs_run WHERE id = ?",
            run_id,
        )
        assert status == "running", "the run ended before its server was killed"
        assert events_before >= 3

        # The new server's reaper starts with it, before any request, and sees at once that
        # the process executing the run is gone (no waiting for its heartbeat to go stale).
        server.start(request=False)
        restarted = time.monotonic()
        while server.query("SELECT status FROM runs_run WHERE id = ?", run_id) == [("running",)]:
            assert time.monotonic() - restarted < REAP_TIMEOUT, "no reaper ran"
            time.sleep(0.2)
        reaped_after = time.monotonic() - restarted
        page.goto(f"/runs/{run_id}/")
        expect(page.get_by_test_id("run-status")).to_have_text(
            "Interrupted", timeout=REAP_TIMEOUT * 1000
        )
        expect(page.get_by_test_id("run-error")).to_contain_text(
            "The process executing this run (pid"
        )
        expect(page.get_by_test_id("run-error")).to_contain_text("the server was restarted")
        shot(page, "restart-03-run-interrupted")

        [(status, error)] = server.query("SELECT status, error FROM runs_run WHERE id = ?", run_id)
        assert status == "interrupted"
        assert error.startswith("The process executing this run (pid"), error
        events = server.query(
            "SELECT seq, kind, payload FROM runs_runevent WHERE run_id = ? ORDER BY seq, id",
            run_id,
        )
        seqs = [seq for seq, _, _ in events]
        assert seqs == list(range(1, len(events) + 1)), seqs  # gapless, no duplicates
        assert len(events) == events_before + 1  # only the reaper's own event was added
        _, kind, payload = events[-1]
        assert kind == "state"
        assert json.loads(payload)["status"] == "interrupted"

        # Nothing keeps running in the sandbox; the sandbox itself is kept.
        assert leftover.wait(timeout=10) == -signal.SIGKILL
        assert processes_where(lambda cwd, _group: inside(cwd, workspace)) == []
        assert Path(workspace, "src/App.tsx").is_file()
        page.goto(f"/sessions/{session_id}/")
        expect(page.get_by_test_id("session-status")).to_have_text("Running")
        assert reaped_after <= REAP_TIMEOUT
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait(timeout=10)
        page.goto("about:blank")
    assert server.stop() in (0, -signal.SIGTERM)


def test_a_run_awaiting_approval_is_approved_after_a_server_restart(daphne, browser_context):
    server = daphne()
    server.start()
    page = login(browser_context(server.url), "alice")
    session_id = open_sandbox(page)
    form = page.locator("#run-form")
    form.get_by_label("shell commands").check()
    form.get_by_label("patches").check()
    run_id = start_run(page, PROMPT_Y)
    pending = page.get_by_test_id("approval")
    expect(pending).to_be_visible(timeout=RUN_TIMEOUT)
    expect(page.get_by_test_id("run-status")).to_have_text("Awaiting approval")
    app = Path(server.workspace(session_id), "src/App.tsx")
    before = app.read_text()
    # Paused: the state is in the database, and nothing else waits for it.
    [(status, sealed)] = server.query(
        "SELECT status, substr(paused_state, 1, 7) FROM runs_run WHERE id = ?", run_id
    )
    assert (status, sealed) == ("awaiting_approval", "sealed:")
    shot(page, "restart-04-awaiting-approval")
    page.goto("about:blank")

    assert server.stop() in (0, -signal.SIGTERM)
    server.start()  # a new process: nothing of the paused run lives in memory any more

    page.goto(f"/runs/{run_id}/")
    expect(page.get_by_test_id("run-status")).to_have_text("Awaiting approval")
    expect(pending).to_be_visible()
    expect(page.locator(f"#run-{run_id}-log li.ev-tool pre.cmd").last).to_contain_text("pwd && ls")
    pending.get_by_test_id("approve-all").click()  # every shell command of this run
    # The patch still asks: the exact patch, then Approve.
    patch = page.locator(f"#run-{run_id}-log li.ev-apply_patch")
    expect(patch.get_by_test_id("approval")).to_be_visible(timeout=RUN_TIMEOUT)
    expect(patch.locator("pre.diff")).to_contain_text(f'"brand": "{BRAND_Y}"')
    shot(page, "restart-05-patch-after-restart")
    patch.get_by_test_id("approve").click()
    wait_until_finished(page)
    expect(page.get_by_test_id("run-status")).to_have_text("Succeeded")
    expect(page.get_by_test_id("final-output")).to_contain_text(BRAND_Y)
    assert BRAND_Y in app.read_text() and app.read_text() != before
    decided = server.query(
        "SELECT kind, decision FROM runs_approval WHERE run_id = ? ORDER BY id", run_id
    )
    assert decided == [("shell", "approved"), ("patch", "approved")]
    shot(page, "restart-06-approved-after-restart")
    page.goto("about:blank")
    assert server.stop() in (0, -signal.SIGTERM)
