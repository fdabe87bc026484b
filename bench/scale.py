"""Scale-out benchmark: R runs x V viewers, scale-out set-up against the single-process default.

Both set-ups serve the real dashboard with real processes on this machine and are driven the
same way: R local sandboxes (the Vite starter), R runs of the offline demo model started
through the run form, V websocket viewers per run split across the daphnes, all at once.

  * single: one `daphne` as `make run` serves it (SQLite, in-memory channel layer, runs on the
    server's loop);
  * scale-out (when DATABASE_URL and REDIS_URL are set, e.g. by scripts/test-scale's
    services): two daphnes and two `manage.py worker` processes, TASKS_BACKEND=db.

Both set-ups are started, then measured in turn: a cold round (fresh processes: their first
runs pay imports and first-use costs), then BENCH_ROUNDS warm rounds (3), as a server that has
been up a while; medians of the warm rounds and the ratio of each round close. BENCH_NO_POOL=1
adds a third set-up: scale-out without the PostgreSQL connection pool (DATABASE_POOL_MAX=0).
It prints, per set-up and round: wall time (first form sent to last event received), events lost and
duplicated over all viewers, live latency (event stored -> viewer received: median, p95,
max), the longest wait of a run (created -> started: queued, claimed, its sandbox resumed)
and the longest run (started -> finished), and the CPU time the machine spent meanwhile (all
processes, from /proc/stat) with the part of each server process (with the processes it
started), PostgreSQL, Redis and the benchmark's own clients. It asserts nothing.

    BENCH_RUNS=10 BENCH_VIEWERS=4 .venv/bin/python bench/scale.py      # single process only
    BENCH_PROFILE=/tmp/prof ... (py-spy's samples of each server process while the runs stream)
    scripts/test-scale --run .venv/bin/python bench/scale.py           # both, on fresh services
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
RUNS = int(os.environ.get("BENCH_RUNS", "10"))
VIEWERS = int(os.environ.get("BENCH_VIEWERS", "4"))
DELAY = os.environ.get("BENCH_DEMO_DELAY", "0.04")
RUN_TIMEOUT = 180
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))

SETUP = """
import json, secrets
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from sandboxes.models import Manifest, SandboxSession
from sandboxes.services import session_start
user, _ = get_user_model().objects.get_or_create(username="bench-" + secrets.token_hex(4))
store = SessionStore()
store[SESSION_KEY] = str(user.pk)
store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
store[HASH_SESSION_KEY] = user.get_session_auth_hash()
store.create()
manifest = Manifest.objects.get(slug="vite-react")
ids = []
for i in range(RUNS):
    s = SandboxSession.objects.create(
        owner=user, manifest=manifest, name=f"bench {i}", backend="local"
    )
    async_to_sync(session_start)(session_id=s.pk)
    ids.append(s.pk)
cookie = settings.SESSION_COOKIE_NAME + "=" + store.session_key
print(json.dumps({"cookie": cookie, "sessions": ids}))
"""

EVENT_TIMES = """
import json
from runs.models import Run, RunEvent
out = {}
for e in RunEvent.objects.filter(run_id__in=RUN_IDS).values("run_id", "seq", "created_at"):
    out.setdefault(str(e["run_id"]), {})[e["seq"]] = e["created_at"].timestamp()
phases = [
    ((r.started_at - r.created_at).total_seconds(), (r.finished_at - r.started_at).total_seconds())
    for r in Run.objects.filter(pk__in=RUN_IDS)
]
print(json.dumps({"events": out, "phases": phases}))
"""


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_cpu() -> float:
    """CPU seconds every process of the machine has used so far (user, nice, system, irq)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return sum(int(fields[i]) for i in (0, 1, 2, 5, 6)) / CLOCK_TICKS


def process_cpu() -> dict[int, tuple[str, int, float]]:
    """pid -> (command, session id, CPU seconds used) for every process alive now."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2 :].split()
        out[int(entry.name)] = (comm, int(rest[3]), (int(rest[11]) + int(rest[12])) / CLOCK_TICKS)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode:
        raise SystemExit(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


class RunForm(HTMLParser):
    """The run form's default fields, as a browser would send them."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.action = ""
        self.fields: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == "run-form"
            self.action = a.get("action", "") if self.inside else self.action
        elif not self.inside:
            return
        elif tag == "input" and "name" in a and a.get("type") not in ("submit", "button"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.fields[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select:
            if "selected" in a or self._select not in self.fields:
                self.fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "form":
            self.inside = False


async def start_run(base: str, cookie: str, session_id: int, prompt: str) -> int:
    async with httpx.AsyncClient(base_url=base, headers={"Cookie": cookie}, timeout=60) as c:
        page = await c.get(f"/sessions/{session_id}/")
        form = RunForm()
        form.feed(page.text)
        csrf = re.search(r'"x-csrftoken":\s*"([^"]+)"', page.text).group(1)
        response = await c.post(
            form.action,
            data=form.fields | {"prompt": prompt},
            headers={
                "X-CSRFToken": csrf,
                "HX-Request": "true",
                "Referer": f"{base}/sessions/{session_id}/",
                "Cookie": f"{cookie}; csrftoken={csrf}",
            },
        )
        return int(re.search(r"/runs/(\d+)/", response.headers["HX-Redirect"]).group(1))


async def view(base: str, cookie: str, run_id: int) -> list[tuple[int, float]]:
    """(seq, arrival time) of every event one viewer received, until the run finished."""
    got: list[tuple[int, float]] = []
    ws_url = base.replace("http://", "ws://") + f"/ws/runs/{run_id}/"
    async with websockets.connect(
        ws_url, additional_headers={"Cookie": cookie, "Origin": base}, max_size=None
    ) as ws:
        await ws.send(json.dumps({"type": "resume", "after": 0}))
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            message = json.loads(await asyncio.wait_for(ws.recv(), RUN_TIMEOUT))
            now = time.time()
            events = message.get("events", [])
            got += [(e["seq"], now) for e in events]
            if any("data-run-finished" in e["html"] for e in events):
                return got
    return got


class Setup:
    def __init__(self, name: str, env: dict, daphnes: int, workers: int, logs: Path) -> None:
        self.name, self.env, self.logs = name, env, logs
        self.ports = [free_port() for _ in range(daphnes)]
        self.workers = workers
        self.procs: list[subprocess.Popen] = []
        self.names: list[str] = []

    def start(self) -> None:
        manage(self.env, "migrate", "--noinput", "-v0")
        manage(self.env, "seed")
        for i, port in enumerate(self.ports):
            self._spawn(
                f"daphne-{i}",
                [
                    str(VENV_BIN / "daphne"),
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "config.asgi:application",
                ],
            )
        for i in range(self.workers):
            self._spawn(f"worker-{i}", [str(VENV_BIN / "python"), "manage.py", "worker"])
        for port in self.ports:
            for _ in range(300):
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)
                    break
                time.sleep(0.2)
        time.sleep(2 if self.workers else 0)  # workers register and poll

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.logs / f"{self.name}-{name}.log").open("w")
        self.names.append(name)
        self.procs.append(
            subprocess.Popen(
                args,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    def profile(self) -> list[subprocess.Popen]:
        """BENCH_PROFILE=dir: py-spy samples each server process while the runs stream, as
        collapsed stacks in dir/<set-up>-<process>.txt (`pip install py-spy` first). Threads on
        the CPU only: with --gil, py-spy charged idle time to the last code that held the GIL."""
        if not (folder := os.environ.get("BENCH_PROFILE")):
            return []
        Path(folder).mkdir(parents=True, exist_ok=True)
        profilers = []
        for proc, name in zip(self.procs, self.names, strict=True):
            out = Path(folder) / f"{self.name.split()[0]}-{name}.txt"
            command = [str(VENV_BIN / "py-spy"), "record", "-p", str(proc.pid), "-f", "raw"]
            command += ["-o", str(out), "--nonblocking", "-r", "200"]
            profilers.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        time.sleep(1)  # py-spy attaches
        return profilers

    def cpu_split(self, before: dict, after: dict) -> dict[str, float]:
        """CPU seconds per part between two process_cpu() snapshots (processes that came and
        went in between are only in the machine's total)."""
        roles = {proc.pid: name for proc, name in zip(self.procs, self.names, strict=True)}
        split: dict[str, float] = {}
        for pid, (comm, session, cpu) in after.items():
            used = cpu - (before[pid][2] if pid in before and before[pid][0] == comm else 0)
            if pid == os.getpid():
                part = "clients"
            elif session in roles:
                part = roles[session].split("-")[0]
            elif comm in ("postgres", "redis-server"):
                part = comm.split("-")[0]
            else:
                continue
            split[part] = split.get(part, 0.0) + used
        return split

    async def measure(self) -> dict:
        setup = json.loads(manage(self.env, "shell", "-c", SETUP.replace("RUNS", str(RUNS))))
        cookie, sessions = setup["cookie"], setup["sessions"]
        bases = [f"http://127.0.0.1:{port}" for port in self.ports]
        cpu_before, processes_before = machine_cpu(), process_cpu()
        profilers = self.profile()
        started = time.monotonic()
        run_ids = await asyncio.gather(
            *(
                start_run(bases[i % len(bases)], cookie, s, f"A landing page for shop {i}")
                for i, s in enumerate(sessions)
            )
        )
        views = await asyncio.gather(
            *(
                view(bases[(r + v) % len(bases)], cookie, run_id)
                for r, run_id in enumerate(run_ids)
                for v in range(VIEWERS)
            )
        )
        wall = time.monotonic() - started
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)
        for profiler in profilers:
            profiler.wait(timeout=30)
        cpu = machine_cpu() - cpu_before
        split = self.cpu_split(processes_before, process_cpu())
        facts = json.loads(
            manage(self.env, "shell", "-c", EVENT_TIMES.replace("RUN_IDS", repr(run_ids)))
        )
        stored, phases = facts["events"], facts["phases"]
        lost = duplicated = 0
        latencies: list[float] = []
        for index, got in enumerate(views):
            times = stored[str(run_ids[index // VIEWERS])]
            seqs = [seq for seq, _ in got]
            duplicated += len(seqs) - len(set(seqs))
            lost += len(set(map(int, times)) - set(seqs))
            latencies += [arrived - times[str(seq)] for seq, arrived in got]
        latencies.sort()
        return {
            "wall": wall,
            "events": sum(len(t) for t in stored.values()),
            "lost": lost,
            "duplicated": duplicated,
            "p50": statistics.median(latencies) * 1000,
            "p95": latencies[int(len(latencies) * 0.95)] * 1000,
            "max": latencies[-1] * 1000,
            "wait": max(wait for wait, _ in phases),
            "run": max(run for _, run in phases),
            "cpu": cpu,
            "split": split,
        }


def separate_database(url: str, suffix: str) -> str:
    """A new, empty database beside the one at `url` (PostgreSQL), for another set-up."""
    import psycopg

    base, name = url.rsplit("/", 1)
    other = f"{name}_{suffix}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{other}"')
        connection.execute(f'CREATE DATABASE "{other}"')
    return f"{base}/{other}"


def base_env(tmp: Path, name: str) -> dict:
    data = Path(tempfile.mkdtemp(prefix=f"bench-scale-{name}-", dir=tmp))
    data.chmod(0o711)
    env = {k: v for k, v in os.environ.items() if k not in {"OPENAI_API_KEY", "E2B_API_KEY"}}
    env.update(
        DASHBOARD_DATA_DIR=str(data),
        DASHBOARD_LOCAL_SANDBOXES="everyone",
        DASHBOARD_SANDBOX_CACHE=str(ROOT / ".local" / "test-sandbox-cache"),
        DEMO_MODEL_DELAY=DELAY,
        AGENTS_TRACING="false",
        LOG_LEVEL="WARNING",
        TMPDIR=str(data),
        PYTHONUNBUFFERED="1",
    )
    return env


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-", dir="/tmp"))
    tmp.chmod(0o711)
    setups = []
    single = base_env(tmp, "single")
    for name in ("REDIS_URL", "TASKS_BACKEND", "DJANGO_SECRET_KEY"):
        single.pop(name, None)
    single["DATABASE_URL"] = f"sqlite:///{tmp / 'single.sqlite3'}"
    setups.append(Setup("single process", single, daphnes=1, workers=0, logs=tmp))
    if os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL"):
        scaled = base_env(tmp, "scale") | {"TASKS_BACKEND": "db"}
        scaled.setdefault("DJANGO_SECRET_KEY", "bench-" + "k" * 50)
        setups.append(Setup("scale-out (2 daphnes, 2 workers)", scaled, 2, 2, logs=tmp))
        if os.environ.get("BENCH_NO_POOL", "") not in {"", "0"}:
            # Its own database and Redis database: set-ups sharing them would run each
            # other's tasks, and each one's reaper would find the other's sandboxes gone.
            unpooled = base_env(tmp, "unpooled") | {
                "TASKS_BACKEND": "db",
                "DATABASE_POOL_MAX": "0",
                "DATABASE_URL": separate_database(scaled["DATABASE_URL"], "nopool"),
                "REDIS_URL": scaled["REDIS_URL"].rsplit("/", 1)[0] + "/1",
            }
            unpooled.setdefault("DJANGO_SECRET_KEY", scaled["DJANGO_SECRET_KEY"])
            setups.append(Setup("scale-out, no connection pool", unpooled, 2, 2, logs=tmp))
    else:
        print("DATABASE_URL (postgres) and REDIS_URL unset: the single-process default only.")
    print(
        f"{RUNS} runs x {VIEWERS} viewers, demo model delay {DELAY} s; a cold round, then "
        f"{ROUNDS} warm round(s), the set-ups taking turns"
    )
    columns = (
        "wall s",
        "events",
        "lost",
        "dup",
        "p50 ms",
        "p95 ms",
        "max ms",
        "wait s",
        "run s",
        "cpu s",
    )
    print(f"{'set-up':34} " + " ".join(f"{c:>7}" for c in columns))
    walls: dict[str, list[float]] = {setup.name: [] for setup in setups}
    try:
        # Every set-up serves at once (an idle one costs next to nothing) and they take turns,
        # round by round: this machine's speed drifts by more than the differences measured.
        for setup in setups:
            setup.start()
        for number in range(ROUNDS + 1):
            label = "cold: fresh processes" if number == 0 else f"warm round {number}"
            print(label)
            for setup in setups:
                r = asyncio.run(setup.measure())
                if number:
                    walls[setup.name].append(r["wall"])
                print(
                    f"{setup.name:34} {r['wall']:7.1f} {r['events']:7d} {r['lost']:7d} "
                    f"{r['duplicated']:7d} {r['p50']:7.0f} {r['p95']:7.0f} {r['max']:7.0f} "
                    f"{r['wait']:7.2f} {r['run']:7.2f} {r['cpu']:7.1f}"
                )
                parts = ", ".join(f"{part} {used:.1f}" for part, used in sorted(r["split"].items()))
                print(f"{'':34}   CPU s by part: {parts}")
                sys.stdout.flush()
    except BaseException:
        kept = Path(tempfile.mkdtemp(prefix="bench-scale-logs-", dir="/tmp"))
        for log in tmp.glob("*.log"):
            shutil.copyfile(log, kept / log.name)
        print(f"The benchmark failed; the servers' logs are in {kept}", file=sys.stderr)
        raise
    finally:
        for setup in setups:
            setup.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if ROUNDS:
        print("warm rounds, wall time:")
        for name, values in walls.items():
            print(
                f"  {name:34} median {statistics.median(values):.2f} s   "
                f"({' / '.join(f'{v:.2f}' for v in values)})"
            )
        single_walls = walls[setups[0].name]
        for setup in setups[1:]:
            ratios = [b / a for a, b in zip(single_walls, walls[setup.name], strict=True)]
            print(
                f"  {setup.name} / single, round by round: median "
                f"{statistics.median(ratios):.2f} ({' / '.join(f'{r:.2f}' for r in ratios)})"
            )


if __name__ == "__main__":
    main()
