"""Time to preview: the Vite starter on the local backend, cold and warm.

Each run starts a sandbox from the seeded Vite starter (not timed), then times, from
`sandboxes.previews.preview_create` to the first HTTP 200 for `/` from the dashboard's proxy
(`config.asgi.application`, driven in-process through httpx.ASGITransport on the host
p<id>.preview.localhost, with the cookie its grant entry hands out), exactly what a viewer
waits for: the preview command (`npm install ... && npm run dev ...`), Vite's boot, the
supervisor's port probe and the proxy. Everything runs on one event loop, as under daphne.

  * cold: an empty npm cache (npm_config_cache in a temp dir) and an empty node_modules cache
    (settings.PREVIEW_MODULES_CACHE under a temp DASHBOARD_DATA_DIR): a real `npm install` of
    vite + react from the npm registry;
  * warm: another session of the same manifest, with both caches as the runs before left them.

The breakdown comes from the command's log file, read every 50 ms while the proxy is polled
(and from the supervisor's own lines, PreviewLog.write being wrapped): setup (port, node_modules
reuse, spawn) until the command starts, `npm install` until npm's summary line, `npm run dev`
until its banner, Vite's boot until "ready in", then until the supervisor marks the preview
READY, then until the proxy answers 200. Markers that land in one read share its time. It
prints figures; it asserts nothing.

    cd /work/main && .venv/bin/python bench/preview.py

Environment: BENCH_RUNS (3: one cold, the rest warm), BENCH_TIMEOUT (180 s per run),
BENCH_FIXES=1 (patch in, in this process only, the fixes apply_fixes() describes).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
RUN_TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "180"))
FIXES = os.environ.get("BENCH_FIXES", "") not in {"", "0"}
POLL = 0.05  # a client retrying the proxy every 50 ms
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MARKERS = {
    "command": re.compile(r"^\$ ", re.M),  # the supervisor spawned the command
    "installed": re.compile(r"^(added|removed|changed|up to date|audited) .*\bin \S+", re.M),
    "dev": re.compile(r"^> \S+ dev$", re.M),  # npm run dev starts
    "vite_ready": re.compile(r"ready in \d+ ms"),
}


def configure(tmp: Path) -> None:
    """Environment for an isolated, throwaway dashboard; must run before django.setup()."""
    sys.path.insert(0, str(ROOT))
    sandboxes = tmp / "sandboxes"
    sandboxes.mkdir()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{tmp / 'bench.sqlite3'}",
        DASHBOARD_DATA_DIR=str(tmp / "data"),
        AGENTS_TRACING="0",
        TASKS_BACKEND="server",
        # npm's cache (cold at first), and local workspaces, inside tmp; previews inherit both.
        npm_config_cache=str(tmp / "npm-cache"),
        TMPDIR=str(sandboxes),
    )
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    tempfile.tempdir = None  # re-read TMPDIR: the local backend's mkdtemp() lands in tmp

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


# --- instrumentation -------------------------------------------------------------------------


@dataclass
class Trace:
    """A preview's output as it appeared, and when each marker first showed in it."""

    log: str = ""
    marks: dict[str, float] = field(default_factory=dict)
    offset: int = 0  # how much of the dev server's log file was read

    def feed(self, text: str, now: float) -> None:
        self.log += ANSI.sub("", text)  # Vite colours its output (FORCE_COLOR=0 forces it on)
        for name, pattern in MARKERS.items():
            if name not in self.marks and pattern.search(self.log):
                self.marks[name] = now

    def follow(self, path: Path) -> None:
        """Read what the command wrote to its log file since the last call."""
        try:
            with open(path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        self.feed(data.decode("utf-8", errors="replace"), time.monotonic())


TRACES: dict[int, Trace] = {}


def instrument_preview_log() -> None:
    """The supervisor's own lines ("[dashboard] reused node_modules", "$ command")."""
    from sandboxes.previews import PreviewLog

    write = PreviewLog.write

    def traced_write(self, text: str) -> None:
        if text.startswith(("[dashboard]", "$ ")):
            TRACES.setdefault(self.preview.pk, Trace()).feed(text, time.monotonic())
        write(self, text)

    PreviewLog.write = traced_write


def apply_fixes() -> None:
    """BENCH_FIXES=1: the changes proposed for warm previews, patched into this process only.

    1. node_modules cache key: warm_node_modules() computes it before `npm install`, when the
       starter has no package-lock.json yet; remember_node_modules() computes it after, when npm
       has written one. The keys differ, so the cache never hits. Here: package.json alone.
    2. Proxy access cache: PreviewProxy.allowed() caches the Preview row for 2 s, status
       included, so a viewer polling a starting preview keeps getting 503 for up to 2 s after
       it is READY. Here: a preview that is not READY is not cached.
    """
    import hashlib
    from http.cookies import SimpleCookie

    from sandboxes import previews, proxy
    from sandboxes.models import Preview

    def modules_key(root: Path) -> str | None:
        manifest = root / "package.json"
        if not manifest.is_file():
            return None
        return hashlib.sha256(manifest.read_bytes()).hexdigest()[:24]

    previews.modules_key = modules_key  # what _run_local keys the cache by

    allowed = proxy.PreviewProxy.allowed

    async def allowed_uncached_until_ready(self, preview_id: int, scope):
        preview = await allowed(self, preview_id, scope)
        if preview is not None and preview.status != Preview.Status.READY:
            raw = SimpleCookie(proxy._header(scope, b"cookie")).get(proxy.COOKIE_NAME)
            self._access.pop((preview_id, raw.value), None)
        return preview

    proxy.PreviewProxy.allowed = allowed_uncached_until_ready


def preview_proxy(application):
    """The PreviewProxy inside config.asgi.application (wrapped by remember_server_loop)."""
    from sandboxes.proxy import PreviewProxy

    for cell in application.__closure__ or ():
        if isinstance(cell.cell_contents, PreviewProxy):
            return cell.cell_contents
    return None


# --- one run ---------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    caches: str
    seconds: dict[str, float]
    notes: list[str]


async def wait_for_tasks(baseline: int) -> None:
    """Until the background tasks started since `baseline` (the preview supervisor) end."""
    from lib import task_backends

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(task_backends._running) <= baseline:
            return
        await asyncio.sleep(0.05)


async def _login_session_key(owner) -> str:
    """A real login session of the owner's: an owner's preview grant lasts as long as it."""
    from asgiref.sync import sync_to_async
    from django.test import Client

    def login() -> str:
        client = Client()
        client.force_login(owner)
        return client.session.session_key

    return await sync_to_async(login)()


async def start_session(owner, manifest, name: str):
    from sandboxes import services
    from sandboxes.models import Preview, SandboxSession

    session = await SandboxSession.objects.acreate(
        owner=owner,
        manifest=manifest,
        name=name,
        backend=SandboxSession.Backend.LOCAL,
        options={"exposed_ports": [Preview.DEFAULT_PORT]},
    )
    await services.session_start(session_id=session.pk)
    await session.arefresh_from_db()
    if session.status != SandboxSession.Status.RUNNING:
        raise RuntimeError(f"The sandbox did not start: {session.last_error}")
    return session


async def time_to_preview(client, owner, manifest, name: str, caches: str) -> Result:
    from asgiref.sync import ThreadSensitiveContext, sync_to_async
    from django.conf import settings

    from lib import task_backends
    from sandboxes import grants, previews
    from sandboxes.models import Preview

    session = await start_session(owner, manifest, f"bench {name}")
    baseline = len(task_backends._running)

    t0 = time.monotonic()
    # As a view does it under daphne: inside a request's thread-sensitive context.
    async with ThreadSensitiveContext():
        preview = await sync_to_async(previews.preview_create)(session=session)
    host = f"http://p{preview.pk}.{settings.PREVIEW_DOMAIN}"
    entered = await client.post(
        f"{host}{grants.ENTER_PATH}",
        data={"grant": grants.grant_for_user(preview, owner, await _login_session_key(owner))},
    )
    if entered.status_code != 303:
        raise RuntimeError(f"The proxy refused the grant: {entered.status_code}")
    cookie = {"cookie": entered.headers["set-cookie"].split(";", 1)[0]}
    trace = TRACES.setdefault(preview.pk, Trace())
    statuses: dict[int, int] = {}
    try:
        while True:
            trace.follow(previews.log_path(preview))
            response = await client.get(f"{host}/", headers=cookie)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                t_200 = time.monotonic()
                break
            await preview.arefresh_from_db(fields=["status", "error", "log"])
            if preview.status == Preview.Status.FAILED:
                raise RuntimeError(f"The preview failed: {preview.error}\n{preview.log[-3000:]}")
            if time.monotonic() - t0 > RUN_TIMEOUT:
                raise RuntimeError(f"No 200 within {RUN_TIMEOUT} s:\n{preview.log[-3000:]}")
            await asyncio.sleep(POLL)
        # What the page asks for next: the app's own module, transformed by Vite on demand.
        module = await client.get(f"{host}/src/App.tsx", headers=cookie)
        t_module = time.monotonic()
        if module.status_code != 200 or "useState" not in module.text:
            raise RuntimeError(f"/src/App.tsx answered {module.status_code}: {module.text[:200]}")
        await preview.arefresh_from_db()
    finally:
        await previews.preview_stop(preview=preview)
        # The supervisor stores node_modules in the cache after READY: let it finish.
        await wait_for_tasks(baseline)

    trace.follow(previews.log_path(preview))
    marks = trace.marks
    t_ready = t0 + (preview.ready_at - preview.created_at).total_seconds()
    steps = [
        ("setup", "command"),
        ("npm install", "installed"),
        ("npm run", "dev"),
        ("vite boot", "vite_ready"),
    ]
    seconds: dict[str, float] = {}
    previous = t0
    for label, mark in steps:
        if mark in marks:
            seconds[label] = marks[mark] - previous
            previous = marks[mark]
    seconds["→ READY"] = t_ready - previous
    seconds["→ proxy 200"] = t_200 - t_ready
    seconds["total"] = t_200 - t0
    seconds["App.tsx"] = t_module - t_200
    notes = [
        line.strip()
        for line in trace.log.splitlines()
        if line.startswith("[dashboard]")
        or MARKERS["installed"].search(line)
        or MARKERS["vite_ready"].search(line)
    ]
    refused = {code: n for code, n in statuses.items() if code != 200}
    notes.append(f"proxy answers before the 200: {refused or 'none'}")
    return Result(name, caches, seconds, notes)


# --- report ----------------------------------------------------------------------------------


def report(results: list[Result], started: float) -> None:
    columns = list(results[0].seconds)
    for result in results[1:]:
        columns += [c for c in result.seconds if c not in columns]
    widths = [max(len(c), 6) for c in columns]
    print()
    print(
        "Time to preview, Vite + React starter, local backend: seconds from preview_create to "
        "the first 200 for / from the proxy"
        + (" (BENCH_FIXES=1: proposed fixes patched in)" if FIXES else "")
    )
    print()
    header = f"{'run':<7} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
    print(header)
    print("-" * len(header))
    for result in results:
        cells = [
            f"{result.seconds[c]:>{w}.2f}" if c in result.seconds else f"{'-':>{w}}"
            for c, w in zip(columns, widths, strict=True)
        ]
        print(f"{result.name:<7} " + " ".join(cells))
    print()
    print("total = setup + npm install + npm run + vite boot + → READY + → proxy 200;")
    print("App.tsx = the first request for the app's module after that (not in total).")
    for result in results:
        print(f"\n{result.name} ({result.caches}):")
        for note in result.notes:
            print(f"  {note}")
    warm = [r.seconds["total"] for r in results if r.name.startswith("warm")]
    if warm:
        verdict = "met" if max(warm) <= 5 else "NOT met"
        print(f"\nTarget warm <= 5 s: {verdict} (warm: {', '.join(f'{s:.2f}' for s in warm)} s)")
    print(f"Bench wall time: {time.monotonic() - started:.0f} s")


async def bench() -> list[Result]:
    import httpx
    from asgiref.sync import sync_to_async
    from django.contrib.auth import get_user_model

    from config.asgi import application
    from lib.processes import stop_process_group
    from sandboxes.models import Preview
    from sandboxes.starters import seed_builtin_starters

    instrument_preview_log()
    if FIXES:
        apply_fixes()
    manifests = await sync_to_async(seed_builtin_starters)()
    manifest = next(m for m in manifests if m.slug == "vite-react")
    owner = await sync_to_async(get_user_model().objects.create_user)("bench", "b@example.com")

    transport = httpx.ASGITransport(app=application)
    results = []
    async with httpx.AsyncClient(transport=transport, timeout=30) as client:
        # As under daphne: the first request makes this loop the one tasks run on.
        await client.get("http://localhost/login/")
        try:
            for i in range(RUNS):
                if i == 0:
                    name, caches = "cold", "empty npm cache, empty node_modules cache"
                else:
                    name = "warm" if i == 1 else f"warm {i}"
                    caches = "npm cache and node_modules cache as the runs before left them"
                print(f"{name}: ", end="", flush=True)
                result = await time_to_preview(client, owner, manifest, name, caches)
                print(f"{result.seconds['total']:.2f} s", flush=True)
                results.append(result)
        finally:
            # Nothing outlives the bench: every dev server's process group, stopped or not.
            async for preview in Preview.objects.exclude(pid=None):
                await stop_process_group(preview.pid)
            if proxy := preview_proxy(application):
                await proxy.context.close()  # its aiohttp session to the dev servers
    return results


def main() -> None:
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="bench-preview-"))
    try:
        configure(tmp)
        results = asyncio.run(bench())
        report(results, started)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
