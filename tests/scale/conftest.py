"""The scale-out set-up, for real: PostgreSQL, Redis, two daphne processes, two workers.

`make test-scale` (scripts/test-scale) starts PostgreSQL and Redis on loopback and exports
DATABASE_URL, REDIS_URL, TASKS_BACKEND=db and a shared DJANGO_SECRET_KEY; the `cluster`
fixture migrates that database and starts two `daphne config.asgi:application` processes and
two `manage.py worker` processes on it, each with its own log, all sharing one data directory
(one machine). This test process reaches the same database through the ORM (to create users,
sandboxes and runs through the services the pages call) and the daphnes over HTTP and
websockets, as browsers do. Tests that kill a process get it back before the next test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import websockets
from asgiref.sync import sync_to_async

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
START_TIMEOUT = 45
# Short enough for a test to watch a killed worker's run end, long enough for a loaded CI box.
RUN_STALE_SECONDS = 6
RUN_HEARTBEAT_SECONDS = 1
WORKER_SLOTS = 8
# Workers poll their queue this rarely: a queued task must reach one by its NOTIFY
# (lib/task_wakeup.py), and only tasks due later wait for a poll.
WORKER_POLL_SECONDS = 5
DAPHNE = [str(VENV_BIN / "daphne"), "-b", "127.0.0.1"]
WORKER = [str(VENV_BIN / "python"), "manage.py", "worker"]
REQUIRED = ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "SCALE_REDIS_CONF", "SCALE_PG_LOG")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Proc:
    """One process of the set-up, restartable with the same command line and log."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen | None = None
    port: int | None = None
    worker_id: str | None = None

    def start(self) -> None:
        # scripts/test-scale stops whatever is listed here, even if pytest itself is killed.
        pid_list = os.environ.get("SCALE_PID_FILE")
        with self.log_path.open("a") as log:
            log.write(f"\n----- start {time.strftime('%H:%M:%S')} -----\n")
            log.flush()
            self.popen = subprocess.Popen(
                self.args,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if pid_list:
            with open(pid_list, "a") as pids:
                pids.write(f"{self.popen.pid}\n")

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def kill(self) -> None:
        """kill -9, as a crash or the OOM killer would: nothing gets to clean up."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)  # whatever it left in its group

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Cluster:
    env: dict[str, str]
    logs: Path
    daphnes: list[Proc] = field(default_factory=list)
    workers: list[Proc] = field(default_factory=list)

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.daphnes[index].port}"

    def ws_url(self, index: int, run_id: int) -> str:
        return f"ws://127.0.0.1:{self.daphnes[index].port}/ws/runs/{run_id}/"

    def start_daphne(self, proc: Proc) -> None:
        proc.start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not proc.alive:
                pytest.fail(f"{proc.name} exited:\n{proc.log()}", pytrace=False)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/login/", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        pytest.fail(f"{proc.name} did not answer in {START_TIMEOUT} s:\n{proc.log()}")

    def start_worker(self, proc: Proc) -> None:
        from runs.models import Worker

        proc.start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not proc.alive:
                pytest.fail(f"{proc.name} exited:\n{proc.log()}", pytrace=False)
            if Worker.objects.filter(worker_id=proc.worker_id).exists():
                return
            time.sleep(0.2)
        pytest.fail(f"{proc.name} did not register in {START_TIMEOUT} s:\n{proc.log()}")

    def ensure_up(self) -> None:
        self.start_redis()
        for proc in self.daphnes:
            if not proc.alive:
                self.start_daphne(proc)
        for proc in self.workers:
            if not proc.alive:
                self.start_worker(proc)

    def worker_of(self, worker_id: str) -> Proc:
        return next(w for w in self.workers if w.worker_id == worker_id)

    def restart_redis(self, down_seconds: float = 1.0) -> None:
        """Stop Redis (everything it held is gone: no persistence) and start it again."""
        self.stop_redis()
        time.sleep(down_seconds)
        self.start_redis()

    def stop_redis(self) -> None:
        conf = Path(self.env["SCALE_REDIS_CONF"])
        pid_file = conf.parent / "redis.pid"
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        pid_file.unlink(missing_ok=True)

    def start_redis(self) -> None:
        conf = Path(self.env["SCALE_REDIS_CONF"])
        if (conf.parent / "redis.pid").exists():
            return
        subprocess.run(["redis-server", str(conf)], check=True)
        port = self.env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0]
        for _ in range(100):
            ping = subprocess.run(["redis-cli", "-p", port, "ping"], capture_output=True)
            if ping.stdout.strip() == b"PONG":
                return
            time.sleep(0.1)
        pytest.fail("Redis did not come back")

    def dump_logs(self) -> str:
        return "".join(
            f"\n----- {p.name} ({p.log_path}) -----\n{p.log()[-6000:]}"
            for p in [*self.daphnes, *self.workers]
        )


def _environment(data: Path, tmp: Path) -> dict[str, str]:
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing or os.environ.get("TASKS_BACKEND") != "db":
        pytest.fail(
            "tests/scale needs the scale-out services: run `make test-scale` "
            f"(missing: {', '.join(missing) or 'TASKS_BACKEND=db'})",
            pytrace=False,
        )
    env = {k: v for k, v in os.environ.items() if k not in {"OPENAI_API_KEY", "E2B_API_KEY"}}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        DASHBOARD_DATA_DIR=str(data),
        DASHBOARD_LOCAL_SANDBOXES="everyone",
        DASHBOARD_SANDBOX_CACHE=str(ROOT / ".local" / "test-sandbox-cache"),
        DEMO_MODEL_DELAY="0.1",
        # DEBUG on, as a developer runs it: the worker must not autoreload all the same.
        DJANGO_DEBUG="true",
        AGENTS_TRACING="false",
        RUN_STALE_SECONDS=str(RUN_STALE_SECONDS),
        RUN_HEARTBEAT_SECONDS=str(RUN_HEARTBEAT_SECONDS),
        TMPDIR=str(tmp),
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
    )
    return env


def _manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if result.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


@pytest.fixture(scope="session")
def _database(django_db_blocker):
    """The scale-out database itself (not a test copy): every process of the set-up shares it."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="session")
def cluster(_database, tmp_path_factory, request) -> Iterator[Cluster]:
    data = Path(tempfile.mkdtemp(prefix="sandbox-dashboard-scale-data-", dir="/tmp"))
    data.chmod(0o711)
    tmp = tmp_path_factory.mktemp("scale-tmp")
    tmp.chmod(0o711)
    logs = tmp_path_factory.mktemp("scale-logs")
    env = _environment(data, tmp)
    _manage(env, "migrate", "--noinput", "-v0")
    _manage(env, "seed")
    cluster = Cluster(env=env, logs=logs)
    for index in range(2):
        port = _free_port()
        cluster.daphnes.append(
            Proc(
                name=f"daphne-{index}",
                args=[*DAPHNE, "-p", str(port), "config.asgi:application"],
                # PostgreSQL logs each connection with its process's name (libpq's PGAPPNAME).
                env=env | {"PGAPPNAME": f"daphne-{index}"},
                log_path=logs / f"daphne-{index}.log",
                port=port,
            )
        )
        worker_id = f"scale-worker-{index}-{os.getpid()}"
        cluster.workers.append(
            Proc(
                name=f"worker-{index}",
                args=[
                    *WORKER,
                    *("--slots", str(WORKER_SLOTS), "--interval", str(WORKER_POLL_SECONDS)),
                    *("--worker-id", worker_id),
                ],
                env=env,
                log_path=logs / f"worker-{index}.log",
                worker_id=worker_id,
            )
        )
    try:
        cluster.ensure_up()
        yield cluster
    finally:
        for proc in [*cluster.workers, *cluster.daphnes]:
            proc.stop()
        _stop_previews()
        if request.session.testsfailed:
            sys.stderr.write(cluster.dump_logs())
        artifacts = ROOT / "test-artifacts" / "scale"
        artifacts.mkdir(parents=True, exist_ok=True)
        for log in logs.iterdir():
            shutil.copyfile(log, artifacts / log.name)
        shutil.rmtree(data, ignore_errors=True)


def _stop_previews() -> None:
    """Dev servers run in their own process groups, outside the workers': stop them."""
    from sandboxes.models import Preview

    for pid in Preview.objects.exclude(pid=None).values_list("pid", flat=True):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def up(cluster) -> Cluster:
    """The whole set-up running (a test before may have killed part of it)."""
    cluster.ensure_up()
    return cluster


@pytest.fixture(scope="session")
def alice(_database):
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(
        username="alice", defaults={"email": "alice@example.com"}
    )
    user.set_password("correct horse battery staple")
    user.save()
    return user


@pytest.fixture(scope="session")
def alice_cookie(alice) -> str:
    """A login session of alice's, as the login form makes it (stored in the shared DB)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(alice.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = alice.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


# --- sandboxes, runs and viewers -----------------------------------------------------------------


def start_sessions(owner, count: int, timeout: float = 60) -> list:
    """`count` local sandboxes from the Vite starter, started by the workers (the task the
    "Create sandbox" form queues)."""
    from sandboxes.models import Manifest, SandboxSession
    from sandboxes.services import session_create

    manifest = Manifest.objects.get(slug="vite-react")
    ids = [
        session_create(owner=owner, manifest=manifest, backend_id="local").pk for _ in range(count)
    ]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sessions = list(SandboxSession.objects.filter(pk__in=ids))
        if all(s.status != SandboxSession.Status.CREATING for s in sessions):
            failed = [s.last_error for s in sessions if s.status != "running"]
            assert not failed, failed
            return sorted(sessions, key=lambda s: s.pk)
        time.sleep(0.2)
    pytest.fail(f"sandboxes not started within {timeout} s")


def start_run(owner, session, prompt: str = "A landing page for a bakery"):
    from runs.services import run_start
    from tests.helpers import config

    return run_start(owner=owner, session=session, config=config(), prompt=prompt)


def run_task_worker(run_id: int) -> str:
    """The worker that executed (or is executing) this run's task."""
    from django_tasks_db.models import DBTaskResult

    for row in DBTaskResult.objects.filter(task_path__endswith="run_execute_task"):
        if row.args_kwargs["args"] == [run_id] and row.worker_ids:
            return row.worker_ids[-1]
    raise AssertionError(f"run {run_id} was claimed by no worker")


def run_task_row(run_id: int):
    from django_tasks_db.models import DBTaskResult

    for row in DBTaskResult.objects.filter(task_path__endswith="run_execute_task"):
        if row.args_kwargs["args"] == [run_id]:
            return row
    raise AssertionError(f"run {run_id} was never queued")


def run_task_queue(run_id: int) -> str:
    from django_tasks_db.models import DBTaskResult

    for row in DBTaskResult.objects.filter(task_path__endswith="run_execute_task"):
        if row.args_kwargs["args"] == [run_id]:
            return row.queue_name
    raise AssertionError(f"run {run_id} was never queued")


async def wait_for(predicate, seconds: float, what: str, step: float = 0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := await sync_to_async(predicate)():
            return value
        await asyncio.sleep(step)
    pytest.fail(f"{what}: not within {seconds} s")


class Viewer:
    """A run page's websocket, as static/js/runstream.js speaks it: resume from the last seq."""

    def __init__(self, cluster: Cluster, run_id: int, cookie: str) -> None:
        self.cluster = cluster
        self.run_id = run_id
        self.cookie = cookie
        self.seqs: list[int] = []
        self.arrivals: list[float] = []
        self.socket = None
        self.daphne: int | None = None

    async def connect(self, daphne: int) -> None:
        self.daphne = daphne
        self.socket = await websockets.connect(
            self.cluster.ws_url(daphne, self.run_id),
            additional_headers={"Cookie": self.cookie, "Origin": self.cluster.url(daphne)},
            open_timeout=10,
        )
        after = self.seqs[-1] if self.seqs else 0
        # Closed at once (the server is short of Redis)? The next read reports it.
        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            await self.socket.send(json.dumps({"type": "resume", "after": after}))

    async def receive(self, seconds: float = 1.0) -> list[int]:
        """The seqs of the next message (none if nothing came within `seconds`)."""
        try:
            text = await asyncio.wait_for(self.socket.recv(), seconds)
        except TimeoutError:
            return []
        if isinstance(text, bytes):
            text = text.decode()
        got = [event["seq"] for event in json.loads(text).get("events", [])]
        self.seqs += got
        self.arrivals += [time.monotonic()] * len(got)
        return got

    async def follow(self, *, until_seqs: int = 0, seconds: float = 60) -> None:
        """Read until the run has ended and every stored event arrived (or `until_seqs`
        events arrived)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.receive()
            if until_seqs and len(self.seqs) >= until_seqs:
                return
            if not until_seqs and await sync_to_async(self._complete)():
                return
        pytest.fail(f"viewer of run {self.run_id}: stream incomplete after {seconds} s")

    def _complete(self) -> bool:
        from runs.models import Run, RunEvent

        run = Run.objects.get(pk=self.run_id)
        if run.status in Run.ACTIVE_STATUSES:
            return False
        # The run's row ends a moment before its last event, the `state` event of the ended
        # status, is stored: the stream is complete once that event has arrived.
        last = RunEvent.objects.filter(run_id=self.run_id).order_by("seq").last()
        ended = last.kind == "state" and last.payload.get("status") == run.status
        return ended and bool(self.seqs) and self.seqs[-1] == last.seq

    async def closed(self, seconds: float = 30):
        """Read until the server closes the socket; its close frame."""
        async with asyncio.timeout(seconds):
            try:
                while True:
                    await self.socket.recv()
            except websockets.exceptions.ConnectionClosed as closed:
                return closed.rcvd

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()


def stored_seqs(run_id: int) -> list[int]:
    from runs.models import RunEvent

    return list(
        RunEvent.objects.filter(run_id=run_id).order_by("seq").values_list("seq", flat=True)
    )
