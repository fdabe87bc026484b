"""Live delivery under load: R runs at once x V viewers each, on a real daphne.

The embedded default exactly as `make run` serves it (bench/server.py: one daphne process,
SQLite, in-memory channel layer, runs inside the server, local sandboxes, the offline demo
model), once from `main` (the baseline, `git archive main` in a temp dir) and once from this
tree, in the same invocation. For each case, R sandboxes are opened and R demo runs started
through the dashboard's own forms; V websocket clients per run speak the page's protocol
(runstream.js: connect, {"type": "resume", "after": 0}, apply {"events": [...]}) until the run
finishes. Printed per case and tree:

  * lost / duplicated / out-of-order events, over all viewers, against the stored log;
  * live latency p50 / p95 / p99 / max: from the event being stored (RunEvent.created_at) to
    the viewer receiving it, for events stored after the viewer resumed;
  * the server's peak RSS while the case ran; wall time of the case.

It prints figures; it asserts nothing.

    .venv/bin/python bench/live.py

Environment: BENCH_CASES ("10x5,50x4": runs x viewers), BENCH_TREES ("main,here,here-thread":
`here-thread` is this tree with TASKS_LOOP=thread, runs on their own loop in a thread),
BENCH_TIMEOUT (300 s per case), BENCH_REPEAT (2: every case that many times, the trees
interleaved, each figure printed), BENCH_PROFILE (a folder: py-spy's samples of the server while
the runs stream, one file of collapsed stacks per case; `pip install py-spy` first),
DEMO_MODEL_DELAY (the server's, 0.04 as `make run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websockets

from bench.server import ROOT, Dashboard, baseline_tree, cleanup, revision, workdir

CASES = [
    tuple(int(n) for n in case.split("x"))
    for case in os.environ.get("BENCH_CASES", "10x5,50x4").split(",")
]
TREES = os.environ.get("BENCH_TREES", "main,here,here-thread").split(",")
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "300"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "2"))
PROMPT = "A landing page for a neighbourhood bakery: fresh bread, pastries, weekend brunch"
QUIET_AFTER_FINISH = 1.0  # seconds a viewer keeps listening after its run finished


@dataclass
class Viewer:
    run_id: int
    resumed_at: float = 0.0
    received: list[tuple[int, float]] = field(default_factory=list)
    error: str = ""


async def watch(dash: Dashboard, cookie: str, viewer: Viewer) -> None:
    url = f"ws://127.0.0.1:{dash.port}/ws/runs/{viewer.run_id}/"
    headers = {"Cookie": cookie, "Origin": dash.base_url}
    try:
        async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
            viewer.resumed_at = time.time()
            await ws.send(json.dumps({"type": "resume", "after": 0}))
            finished_at = None
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                wait = QUIET_AFTER_FINISH if finished_at else deadline - time.monotonic()
                try:
                    text = await asyncio.wait_for(ws.recv(), timeout=wait)
                except TimeoutError:
                    if finished_at:
                        return
                    raise
                now = time.time()
                for event in json.loads(text).get("events", []):
                    viewer.received.append((event["seq"], now))
                    if "data-run-finished" in event["html"]:
                        finished_at = now
    except Exception as error:  # a viewer that failed is reported, not fatal
        viewer.error = f"{type(error).__name__}: {error}"


def stored_times(dash: Dashboard, run_ids: list[int]) -> dict[int, dict[int, float]]:
    marks = ",".join("?" * len(run_ids))
    rows = dash.query(
        f"SELECT run_id, seq, created_at FROM runs_runevent WHERE run_id IN ({marks})", *run_ids
    )
    stored: dict[int, dict[int, float]] = {run_id: {} for run_id in run_ids}
    for run_id, seq, created in rows:
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        stored[run_id][seq] = moment.timestamp()
    return stored


class RssSampler(threading.Thread):
    def __init__(self, dash: Dashboard) -> None:
        super().__init__(daemon=True)
        self.dash, self.peak, self.stop = dash, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.dash.rss_mb())
            time.sleep(0.1)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def profile(dash: Dashboard, label: str) -> subprocess.Popen | None:
    """BENCH_PROFILE=dir: py-spy samples the server while the runs stream (not while the
    sandboxes open), written as collapsed stacks to dir/<case>.txt."""
    if not (folder := os.environ.get("BENCH_PROFILE")):
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    tree = "here" if dash.tree == ROOT else dash.tree.name
    out = Path(folder) / f"{tree}-{label.replace(' ', '-')}.txt"
    command = [str(ROOT / ".venv" / "bin" / "py-spy"), "record", "-p", str(dash.proc.pid)]
    command += ["-f", "raw", "-o", str(out), "--nonblocking", "-r", "200"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def one_case(dash: Dashboard, runs: int, viewers: int, label: str) -> dict:
    client = dash.client()
    sessions = [client.create_session(f"live {label} {i}") for i in range(runs)]
    client.wait_running(sessions)
    rss = RssSampler(dash)
    rss.start()
    profiler = profile(dash, label)
    started = time.monotonic()

    async def drive() -> list[Viewer]:
        tasks, watchers = [], []
        for session_id in sessions:
            run_id = await asyncio.to_thread(client.start_run, session_id, PROMPT)
            for _ in range(viewers):
                viewer = Viewer(run_id)
                watchers.append(viewer)
                tasks.append(asyncio.create_task(watch(dash, client.cookie_header, viewer)))
        await asyncio.gather(*tasks)
        return watchers

    watchers = asyncio.run(drive())
    wall = time.monotonic() - started
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait()
    rss.stop.set()
    rss.join()
    run_ids = sorted({v.run_id for v in watchers})
    stored = stored_times(dash, run_ids)
    lost = duplicated = out_of_order = delivered = 0
    latencies: list[float] = []
    for viewer in watchers:
        seqs = [seq for seq, _ in viewer.received]
        delivered += len(seqs)
        duplicated += len(seqs) - len(set(seqs))
        out_of_order += sum(1 for a, b in itertools.pairwise(seqs) if b < a)
        lost += len(set(stored[viewer.run_id]) - set(seqs))
        for seq, at in viewer.received:
            created = stored[viewer.run_id].get(seq)
            if created is not None and created >= viewer.resumed_at:
                latencies.append(at - created)
    statuses = dash.query(
        f"SELECT status, COUNT(*) FROM runs_run WHERE id IN ({','.join('?' * len(run_ids))}) "
        "GROUP BY status",
        *run_ids,
    )
    return {
        "lost": lost,
        "duplicated": duplicated,
        "out_of_order": out_of_order,
        "delivered": delivered,
        "stored": sum(len(s) for s in stored.values()),
        "live": len(latencies),
        "p50": percentile(latencies, 50) * 1000,
        "p95": percentile(latencies, 95) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "max": max(latencies, default=float("nan")) * 1000,
        "mean": (statistics.fmean(latencies) * 1000) if latencies else float("nan"),
        "rss": rss.peak,
        "wall": wall,
        "statuses": dict(statuses),
        "errors": [v.error for v in watchers if v.error][:3],
    }


def main() -> None:
    tmp = workdir("bench-live-")
    results: dict[tuple[int, int], dict[str, dict]] = {case: {} for case in CASES}
    try:
        main = baseline_tree(tmp) if "main" in TREES else None
        trees = {
            "main": (main, {}),
            "here": (ROOT, {}),
            "here-thread": (ROOT, {"TASKS_LOOP": "thread"}),
        }
        with contextlib.ExitStack() as stack:
            dashboards = {}
            for name in TREES:
                tree, env = trees[name]
                label = f"{name} ({revision(tree)})"
                dashboards[label] = stack.enter_context(
                    Dashboard(tree, tmp / f"data-{name}", **env)
                )
            # Interleaved (case by case, tree by tree, REPEAT times): a machine whose load
            # changes meanwhile weighs on every tree alike.
            for rep in range(REPEAT):
                for runs, viewers in CASES:
                    for label, dash in dashboards.items():
                        print(f"... {label}: {runs} runs x {viewers} viewers", flush=True)
                        outcome = one_case(dash, runs, viewers, f"{runs}x{viewers} {rep}")
                        results[(runs, viewers)][f"{label} #{rep + 1}"] = outcome
    finally:
        cleanup(tmp)
    print()
    print(
        f"{'case':<12} {'tree':<33} {'lost':>5} {'dup':>5} {'ooo':>5} {'events':>8} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'RSS MB':>7} {'wall s':>7}"
    )
    for (runs, viewers), by_tree in results.items():
        for label, r in by_tree.items():
            print(
                f"{f'{runs}x{viewers}':<12} {label:<33} {r['lost']:>5} {r['duplicated']:>5} "
                f"{r['out_of_order']:>5} {r['delivered']:>8} {r['p50']:>8.1f} {r['p95']:>8.1f} "
                f"{r['p99']:>8.1f} {r['max']:>8.1f} {r['rss']:>7.0f} {r['wall']:>7.1f}"
            )
            extra = f"    stored {r['stored']}, live samples {r['live']}, runs {r['statuses']}"
            if r["errors"]:
                extra += f", viewer errors: {r['errors']}"
            print(extra)


if __name__ == "__main__":
    main()
