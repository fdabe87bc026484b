"""Run insight pages at scale: p95 server time of the runs page, a run page, its timeline
fragment, and the export of a 10,000-event run (with the memory it takes while streaming).

The database is seeded with BENCH_RUNS runs (10,000) holding BENCH_EVENTS events (1,000,000) in
all, one of them a long run of BENCH_BIG_EVENTS events (10,000: a model response, a shell call
and its output per step). SQLite in a temp dir by default; the database at DATABASE_URL (say,
PostgreSQL) when it is set; it must be empty (it is migrated, seeded and left as it is).

Each page is requested BENCH_REPEAT times (30) through Django's test client (the whole
middleware stack; no network); baseline: a plain page (the agent list) in the same run. The
export is drained as the server drains it (its async iterator); baseline: reading the same
events with no serialisation. Memory: tracemalloc's peak while exporting the big run, beside
the peak of exporting a run a tenth its size (flat when streamed). It prints figures; it
asserts nothing.

    .venv/bin/python bench/pages.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "10000"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "1000000"))
BIG_EVENTS = int(os.environ.get("BENCH_BIG_EVENTS", "10000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "30"))
BATCH = 5000
OUTPUT = "total 28\n" + "-rw-r--r-- 1 sandbox sandbox 355 Dec  2 01:51 package.json\n" * 4


def configure(tmp: Path) -> str:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    database = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ["DATABASE_URL"] = database
    os.environ["DASHBOARD_DATA_DIR"] = str(tmp / "data")
    os.environ["AGENTS_TRACING"] = "0"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0, interactive=False)
    return database.split(":", 1)[0]


def _step_events(run_id: int, first_seq: int, count: int, start) -> list:
    """`count` events of a busy run: per step a response, a shell call and its output."""
    from runs.models import RunEvent

    events, seq, at = [], first_seq, start
    while len(events) < count:
        step = seq // 3
        call = f"call-{step}"
        began = at
        at += timedelta(milliseconds=40)
        kinds = [
            (
                "response",
                {
                    "response": f"resp-{step}",
                    "model": "gpt-5.4-mini",
                    "started_at": began.isoformat(),
                    "ended_at": at.isoformat(),
                    "requests": 1,
                    "input_tokens": 2000,
                    "cached_input_tokens": 1500,
                    "output_tokens": 80,
                    "reasoning_tokens": 20,
                    "total_tokens": 2080,
                    "cost": "0.000848",
                },
            ),
            ("tool_call", {"call": call, "tool": "exec_command", "command": "ls -la"}),
            (
                "tool_output",
                {
                    "call": call,
                    "output": OUTPUT,
                    "exit_code": 0,
                    "wall_time": 0.02,
                    "started_at": at.isoformat(),
                    "ended_at": (at + timedelta(milliseconds=20)).isoformat(),
                },
            ),
        ]
        for kind, payload in kinds:
            if len(events) == count:
                break
            seq += 1
            at += timedelta(milliseconds=10)
            events.append(
                RunEvent(run_id=run_id, seq=seq, kind=kind, payload=payload, created_at=at)
            )
    return events


def seed() -> tuple:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from runs.models import Run, RunEvent
    from sandboxes.models import SandboxSession

    user = get_user_model().objects.create_user("bench", password="bench-password-123")
    other = get_user_model().objects.create_user("other", password="bench-password-123")
    session = SandboxSession.objects.create(owner=user, name="bench sandbox", backend="local")
    now = timezone.now()
    started = time.perf_counter()
    runs = []
    for i in range(RUNS):
        begin = now - timedelta(minutes=RUNS - i)
        runs.append(
            Run(
                owner=user if i % 10 else other,
                session=session if i % 10 else None,
                config={"name": "Builder" if i % 3 else "Reviewer", "model": "gpt-5.4-mini"},
                prompt=f"Build landing page number {i} for a bakery with {i % 7} sections",
                final_output=f"I built page {i}.",
                status=Run.Status.SUCCEEDED if i % 5 else Run.Status.FAILED,
                total_tokens=1000 + i,
                input_tokens=900 + i,
                output_tokens=100,
                cost=Decimal("0.0001") * (i % 97),
                started_at=begin,
                finished_at=begin + timedelta(seconds=5 + i % 300),
            )
        )
    Run.objects.bulk_create(runs, batch_size=BATCH)
    ids = list(Run.objects.filter(owner=user).order_by("pk").values_list("pk", flat=True))
    big, small = ids[-1], ids[-2]
    Run.objects.filter(pk=big).update(prompt="The long run: ten thousand events")
    pending: list = []

    def flush() -> None:
        RunEvent.objects.bulk_create(pending, batch_size=BATCH)
        pending.clear()

    pending += _step_events(big, 0, BIG_EVENTS, now - timedelta(hours=2))
    pending += _step_events(small, 0, BIG_EVENTS // 10, now - timedelta(hours=3))
    seeded = len(pending)
    flush()
    rest = max(EVENTS - seeded, 0)
    per_run = max(rest // max(len(ids) - 2, 1), 1)
    for run_id in ids[:-2]:
        if seeded >= EVENTS:
            break
        batch = _step_events(run_id, 0, min(per_run, EVENTS - seeded), now - timedelta(days=1))
        pending += batch
        seeded += len(batch)
        if len(pending) >= BATCH * 4:
            flush()
    flush()
    # Planner statistics, as a database that has lived a while has them.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    total = RunEvent.objects.count()
    print(
        f"seeded {Run.objects.count():,} runs and {total:,} events "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return user, big, small


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(round(0.95 * (len(ordered) - 1)), len(ordered) - 1)]


def measure(client, url: str, **params) -> tuple[float, float]:
    times = []
    for _ in range(REPEAT):
        begin = time.perf_counter()
        response = client.get(url, params)
        assert response.status_code == 200, (url, response.status_code)
        times.append((time.perf_counter() - begin) * 1000)
    return statistics.median(times), p95(times)


async def drain_export(run) -> tuple[float, int, int]:
    """Seconds and bytes of an export drained the way the server drains it; tracemalloc peak."""
    from runs.export import run_export

    tracemalloc.start()
    begin = time.perf_counter()
    size = 0
    async for chunk in run_export(run):
        size += len(chunk.encode())
    seconds = time.perf_counter() - begin
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, size, peak


async def read_events(run) -> float:
    from runs.models import RunEvent

    begin = time.perf_counter()
    count = 0
    async for _ in (
        RunEvent.objects.filter(run_id=run.pk).order_by("seq").aiterator(chunk_size=1000)
    ):
        count += 1
    return time.perf_counter() - begin


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        vendor = configure(Path(tmp))
        from django.test import Client

        from runs.models import Run

        print(f"database: {vendor}; {RUNS:,} runs, {EVENTS:,} events, repeat {REPEAT}")
        user, big, small = seed()
        client = Client()
        client.force_login(user)
        rows = [
            ("baseline: agent list", "/agents/", {}),
            ("runs page (newest)", "/runs/", {}),
            ("runs page 40, by cost", "/runs/", {"sort": "costliest", "page": "40"}),
            ("runs page, search 'bakery 5'", "/runs/", {"q": "bakery 5"}),
            ("runs page, failed + agent", "/runs/", {"status": "failed", "agent": "Reviewer"}),
            (f"run page ({BIG_EVENTS:,} events)", f"/runs/{big}/", {}),
            (f"timeline fragment ({BIG_EVENTS:,} events)", f"/runs/{big}/timeline/", {}),
            (f"timeline fragment ({BIG_EVENTS // 10:,} events)", f"/runs/{small}/timeline/", {}),
        ]
        print(f"{'page':44} {'median ms':>10} {'p95 ms':>10}")
        for label, url, params in rows:
            client.get(url, params)  # warm
            median, high = measure(client, url, **params)
            print(f"{label:44} {median:10.1f} {high:10.1f}")

        big_run = Run.objects.get(pk=big)
        small_run = Run.objects.get(pk=small)
        read = asyncio.run(read_events(big_run))
        seconds, size, peak = asyncio.run(drain_export(big_run))
        small_seconds, small_size, small_peak = asyncio.run(drain_export(small_run))
        print(f"baseline: read {BIG_EVENTS:,} events, no serialisation: {read * 1000:.0f} ms")
        print(
            f"export of {BIG_EVENTS:,} events: {seconds * 1000:.0f} ms, {size / 2**20:.1f} MB, "
            f"peak traced memory {peak / 2**20:.2f} MB"
        )
        print(
            f"export of {BIG_EVENTS // 10:,} events: {small_seconds * 1000:.0f} ms, "
            f"{small_size / 2**20:.2f} MB, peak traced memory {small_peak / 2**20:.2f} MB"
        )


if __name__ == "__main__":
    main()
