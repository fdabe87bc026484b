"""The preview supervisor on the real local backend, with real processes (no npm).

Each preview's command is a tiny Python HTTP server (or a shell line that fails on purpose),
started by `run_preview` exactly as the background task starts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
from pathlib import Path

import httpx
import pytest
from asgiref.sync import sync_to_async

from runs import task_backends
from sandboxes import previews, services
from sandboxes.models import Preview, SandboxSession

pytestmark = pytest.mark.django_db(transaction=True)

PYTHON = shlex.quote(sys.executable)
SERVER = f"{PYTHON} -m http.server {{port}} --bind {{host}}"


def group_members(pgid: int | None) -> list[int]:
    """Live (non-zombie) processes in a process group, read from /proc."""
    if not pgid:
        return []
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(entry))
    return members


async def wait_for_status(preview: Preview, *statuses: str, seconds: float = 15) -> Preview:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        await preview.arefresh_from_db()
        if preview.status in statuses:
            return preview
        if loop.time() > deadline:
            raise AssertionError(
                f"preview {preview.pk} is {preview.status}, not {statuses}: "
                f"{preview.error}\n{preview.log}"
            )
        await asyncio.sleep(0.05)


async def wait_until_gone(pgid: int, seconds: float = 5) -> list[int]:
    """The group's members left after waiting up to `seconds` for them all to exit."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        members = group_members(pgid)
        if not members or loop.time() > deadline:
            return members
        await asyncio.sleep(0.05)


async def answers(url: str) -> int:
    async with httpx.AsyncClient(timeout=5) as client:
        return (await client.get(url)).status_code


async def refused(url: str) -> bool:
    try:
        await answers(url)
    except httpx.ConnectError:
        return True
    return False


@pytest.fixture(autouse=True)
def _modules_cache(settings, tmp_path):
    # Never read or fill the developer's real node_modules cache.
    settings.PREVIEW_MODULES_CACHE = tmp_path / "modules-cache"


@pytest.fixture
async def supervisor(monkeypatch):
    """Starts run_preview as a task (and runs enqueued tasks on this loop); cleans up after."""
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(task_backends, "_server_loop", loop)
    before = set(task_backends._running)
    tasks: list[asyncio.Task] = []

    def start(preview: Preview) -> asyncio.Task:
        task = asyncio.create_task(previews.run_preview(preview_id=preview.pk))
        tasks.append(task)
        return task

    yield start

    pgids = set()
    async for preview in Preview.objects.all():
        pgids.add(preview.pid)
        if preview.is_active:
            await previews.preview_stop(preview=preview)
    enqueued = [asyncio.wrap_future(f) for f in task_backends._running - before]
    for task in [*tasks, *enqueued]:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
    for pgid in pgids:
        if pgid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)


async def with_session(preview: Preview) -> Preview:
    return await Preview.objects.select_related("session").aget(pk=preview.pk)


async def new_preview(session: SandboxSession, command: str = SERVER) -> Preview:
    return await Preview.objects.acreate(session=session, command=command)


async def test_two_local_previews_get_different_host_ports_and_both_answer(
    local_session, supervisor
):
    first = await new_preview(local_session)
    second = await new_preview(local_session)
    supervisor(first)
    supervisor(second)

    await wait_for_status(first, Preview.Status.READY)
    await wait_for_status(second, Preview.Status.READY)

    assert first.host_port and second.host_port
    assert first.host_port != second.host_port
    for preview in (first, second):
        assert preview.upstream_url == f"http://127.0.0.1:{preview.host_port}/"
        assert await answers(preview.upstream_url) == 200
        assert preview.started_at and preview.ready_at and preview.boot_seconds >= 0
        assert "--bind 127.0.0.1" in preview.log and str(preview.host_port) in preview.log
    assert first.pid != second.pid


async def test_a_host_port_held_by_a_live_preview_is_never_handed_out_again(
    local_session, supervisor, monkeypatch
):
    first = await new_preview(local_session)
    supervisor(first)
    await wait_for_status(first, Preview.Status.READY)
    # A port is only "free right now": one a starting preview has not bound yet can be offered
    # again. Offer the first preview's port twice before a really free one.
    offered = iter([first.host_port, first.host_port, previews.free_host_port()])
    monkeypatch.setattr(previews, "free_host_port", lambda: next(offered))

    second = await new_preview(local_session)
    supervisor(second)
    await wait_for_status(second, Preview.Status.READY)

    assert second.host_port != first.host_port
    assert next(offered, None) is None  # both offers of the taken port were refused
    assert await answers(first.upstream_url) == 200
    assert await answers(second.upstream_url) == 200


async def test_a_preview_created_from_sync_code_outside_a_request_starts(local_session, supervisor):
    # What a sync view does (preview_create -> on_commit -> enqueue), here from a worker
    # thread with no request around it: the task must not inherit asgiref's thread markers.
    preview = await sync_to_async(previews.preview_create)(session=local_session, command=SERVER)

    await wait_for_status(preview, Preview.Status.READY)
    assert await answers(preview.upstream_url) == 200


async def test_the_command_gets_the_host_port_in_its_environment(local_session, supervisor):
    script = "import os, sys; print('PORT=' + os.environ['PORT'], flush=True); sys.exit(3)"
    preview = await new_preview(local_session, f"{PYTHON} -c {shlex.quote(script)}")
    await asyncio.wait_for(supervisor(preview), 15)
    await preview.arefresh_from_db()
    assert f"PORT={preview.host_port}" in preview.log


async def test_a_command_that_exits_ends_failed_with_its_log_and_exit_code(
    local_session, supervisor
):
    preview = await new_preview(local_session, "echo boom; exit 3")

    await asyncio.wait_for(supervisor(preview), 15)

    await preview.arefresh_from_db()
    assert preview.status == Preview.Status.FAILED
    assert "boom" in preview.log
    assert "$ echo boom; exit 3" in preview.log
    assert "exited with code 3" in preview.error
    assert preview.stopped_at is not None
    assert preview.ready_at is None


async def test_a_command_that_never_opens_its_port_fails_after_the_boot_time(
    local_session, supervisor, settings
):
    settings.PREVIEW_BOOT_SECONDS = 1
    preview = await new_preview(local_session, "echo waiting; sleep 60")

    await asyncio.wait_for(supervisor(preview), 15)

    await preview.arefresh_from_db()
    assert preview.status == Preview.Status.FAILED
    assert "never answered within 1 s" in preview.error
    assert str(preview.host_port) in preview.error
    assert "waiting" in preview.log
    assert await wait_until_gone(preview.pid) == []  # the sleep was killed too


async def test_a_dev_server_that_dies_after_it_was_ready_is_found_failed_when_checked(
    local_session, supervisor
):
    # Serves exactly one request (the supervisor's probe), then exits with code 5.
    script = (
        "import http.server, sys; "
        "s = http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler); "
        "s.handle_request(); sys.exit(5)"
    )
    preview = await new_preview(local_session, f"{PYTHON} -c {shlex.quote(script)}")
    await asyncio.wait_for(supervisor(preview), 15)
    await preview.arefresh_from_db()
    assert preview.status == Preview.Status.READY and preview.ready_at is not None

    assert await wait_until_gone(preview.pid) == []

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while True:  # until the exited process is reaped and its group is really gone
        preview = await previews.preview_check(preview=await with_session(preview))
        if preview.status != Preview.Status.READY or loop.time() > deadline:
            break
        await asyncio.sleep(0.05)

    await preview.arefresh_from_db()
    assert preview.status == Preview.Status.FAILED
    assert "exited after it was ready" in preview.error
    assert preview.stopped_at is not None


async def test_checking_a_preview_whose_server_runs_leaves_it_ready(local_session, supervisor):
    preview = await new_preview(local_session)
    await asyncio.wait_for(supervisor(preview), 15)

    await previews.preview_check(preview=await with_session(preview))

    await preview.arefresh_from_db()
    assert preview.status == Preview.Status.READY
    assert await answers(preview.upstream_url) == 200


async def test_the_server_keeps_running_and_logging_after_the_boot_task_ends(
    local_session, supervisor
):
    preview = await new_preview(local_session)
    await asyncio.wait_for(supervisor(preview), 15)  # returns once the app answers
    await preview.arefresh_from_db()
    assert preview.status == Preview.Status.READY

    assert await answers(preview.upstream_url + "index.html") == 200

    preview = await with_session(preview)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while "GET /index.html" not in (log := await sync_to_async(previews.current_log)(preview)):
        assert loop.time() < deadline, log
        await asyncio.sleep(0.05)
    assert log.startswith("$ ")  # the command line stays on top


async def test_a_preview_whose_workspace_is_gone_fails_clearly(alice, starter, supervisor):
    session = await SandboxSession.objects.acreate(
        owner=alice,
        manifest=starter,
        name="gone",
        status=SandboxSession.Status.RUNNING,
        sdk_state={"manifest": {"root": "/nonexistent/workspace"}},
    )
    preview = await new_preview(session)

    await asyncio.wait_for(supervisor(preview), 15)

    await preview.arefresh_from_db()
    assert preview.status == Preview.Status.FAILED
    assert "workspace is gone" in preview.error
    assert preview.pid is None


async def test_a_preview_that_is_not_starting_is_left_alone(local_session, supervisor):
    preview = await Preview.objects.acreate(
        session=local_session, command=SERVER, status=Preview.Status.STOPPED
    )
    await asyncio.wait_for(supervisor(preview), 5)
    await preview.arefresh_from_db()
    assert preview.status == Preview.Status.STOPPED
    assert preview.pid is None and preview.host_port is None


async def test_stop_kills_the_whole_process_tree(local_session, supervisor):
    command = f"sh -c 'sleep 300 & exec {SERVER}'"
    preview = await new_preview(local_session, command)
    task = supervisor(preview)
    await wait_for_status(preview, Preview.Status.READY)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while True:
        members = group_members(preview.pid)
        if len(members) >= 2 or loop.time() > deadline:
            break
        await asyncio.sleep(0.05)
    assert len(members) >= 2, members  # the shell's server and its background sleep
    assert any(b"sleep" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in members)

    await previews.preview_stop(preview=preview)

    assert preview.status == Preview.Status.STOPPED and preview.stopped_at is not None
    assert await wait_until_gone(preview.pid) == []
    assert await refused(preview.upstream_url)
    await asyncio.wait_for(task, 10)
    await previews.preview_check(preview=await with_session(preview))
    await preview.arefresh_from_db()
    assert preview.status == Preview.Status.STOPPED  # a stopped server is not a failure


async def test_restart_serves_again_on_a_new_port(local_session, supervisor):
    preview = await new_preview(local_session)
    supervisor(preview)
    await wait_for_status(preview, Preview.Status.READY)
    old_port, old_pid, old_url = preview.host_port, preview.pid, preview.upstream_url

    await previews.preview_restart(preview=preview)

    assert preview.status == Preview.Status.STARTING
    assert (preview.log, preview.error, preview.host_port) == ("", "", None)
    await wait_for_status(preview, Preview.Status.READY)
    assert preview.host_port != old_port
    assert preview.pid != old_pid
    assert group_members(old_pid) == []
    assert await answers(preview.upstream_url) == 200
    assert await refused(old_url)


async def test_shutting_the_session_down_stops_its_previews(local_session, supervisor):
    preview = await new_preview(local_session)
    supervisor(preview)
    await wait_for_status(preview, Preview.Status.READY)
    root = local_session.workspace_root

    await services.session_shutdown(session=local_session)

    await preview.arefresh_from_db()
    assert preview.status == Preview.Status.STOPPED
    assert await wait_until_gone(preview.pid) == []
    assert await refused(preview.upstream_url)
    assert not os.path.exists(root)


async def test_a_stop_during_boot_before_the_pid_is_known_still_ends_the_server(
    local_session, supervisor, monkeypatch
):
    preview = await new_preview(local_session)

    def stop_arrives_during_warm_up(root, *args):
        # What the Stop button does while warm_node_modules is still copying: the row says
        # stopped, and there is no pid yet for preview_stop to kill.
        Preview.objects.filter(pk=preview.pk).update(status=Preview.Status.STOPPED)
        return None

    monkeypatch.setattr(previews, "warm_node_modules", stop_arrives_during_warm_up)

    await asyncio.wait_for(supervisor(preview), 10)

    await preview.arefresh_from_db()
    assert preview.status == Preview.Status.STOPPED
    assert preview.pid is not None  # it had started...
    assert await wait_until_gone(preview.pid) == []  # ...and the stop still ended it


# --- the node_modules hard-link cache ----------------------------------------------------------


def make_workspace(root: Path, package_json: str, *, modules: bool) -> Path:
    root.mkdir(parents=True)
    (root / "package.json").write_text(package_json)
    if modules:
        package = root / "node_modules" / "left-pad"
        package.mkdir(parents=True)
        (package / "index.js").write_text("module.exports = 1;\n")
        (root / "node_modules" / ".bin").mkdir()
        (root / "node_modules" / ".bin" / "left-pad").symlink_to("../left-pad/index.js")
        (root / "node_modules" / ".vite").mkdir()
        (root / "node_modules" / ".vite" / "deps.js").write_text("// optimizer output\n")
    return root


PACKAGE = '{"name": "app", "dependencies": {"left-pad": "1.3.0"}}'


def test_a_remembered_node_modules_is_hard_linked_into_a_workspace_with_the_same_package(
    tmp_path, settings
):
    first = make_workspace(tmp_path / "one", PACKAGE, modules=True)
    second = make_workspace(tmp_path / "two", PACKAGE, modules=False)

    previews.remember_node_modules(first)
    note = previews.warm_node_modules(second)

    assert note and "reused node_modules" in note
    (cached,) = [p for p in settings.PREVIEW_MODULES_CACHE.iterdir()]
    original = first / "node_modules" / "left-pad" / "index.js"
    linked = second / "node_modules" / "left-pad" / "index.js"
    assert linked.read_text() == "module.exports = 1;\n"
    assert linked.stat().st_ino == original.stat().st_ino
    assert linked.stat().st_ino == (cached / "left-pad" / "index.js").stat().st_ino
    assert (second / "node_modules" / ".bin" / "left-pad").is_symlink()
    assert not (cached / ".vite").exists()  # dev-server caches are not shared
    assert not list(settings.PREVIEW_MODULES_CACHE.glob("*.partial"))


def test_a_different_package_json_gets_nothing_from_the_cache(tmp_path, settings):
    previews.remember_node_modules(make_workspace(tmp_path / "one", PACKAGE, modules=True))
    other = make_workspace(tmp_path / "two", '{"name": "other"}', modules=False)

    assert previews.warm_node_modules(other) is None
    assert not (other / "node_modules").exists()


def test_a_different_lockfile_gets_nothing_from_the_cache(tmp_path):
    previews.remember_node_modules(make_workspace(tmp_path / "one", PACKAGE, modules=True))
    other = make_workspace(tmp_path / "two", PACKAGE, modules=False)
    (other / "package-lock.json").write_text('{"lockfileVersion": 3}')

    assert previews.warm_node_modules(other) is None
    assert not (other / "node_modules").exists()


def test_an_existing_node_modules_is_left_alone(tmp_path):
    previews.remember_node_modules(make_workspace(tmp_path / "one", PACKAGE, modules=True))
    own = make_workspace(tmp_path / "two", PACKAGE, modules=False)
    (own / "node_modules").mkdir()

    assert previews.warm_node_modules(own) is None
    assert list((own / "node_modules").iterdir()) == []


def test_nothing_is_cached_without_a_package_json_or_node_modules(tmp_path, settings):
    bare = tmp_path / "bare"
    (bare / "node_modules" / "x").mkdir(parents=True)
    previews.remember_node_modules(bare)
    previews.remember_node_modules(make_workspace(tmp_path / "two", PACKAGE, modules=False))

    assert not settings.PREVIEW_MODULES_CACHE.exists() or not list(
        settings.PREVIEW_MODULES_CACHE.iterdir()
    )


async def test_a_ready_preview_remembers_its_node_modules_for_the_next_one(
    local_session, supervisor, settings
):
    root = Path(local_session.workspace_root)
    package = root / "node_modules" / "left-pad"
    await sync_to_async(package.mkdir)(parents=True)
    (package / "index.js").write_text("module.exports = 1;\n")
    preview = await new_preview(local_session)
    supervisor(preview)
    await wait_for_status(preview, Preview.Status.READY)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    cache = settings.PREVIEW_MODULES_CACHE
    while not (cache.exists() and any(cache.glob("*/left-pad/index.js"))):
        assert loop.time() < deadline, "node_modules was not cached"
        await asyncio.sleep(0.05)
    (cached,) = cache.glob("*/left-pad/index.js")
    assert cached.stat().st_ino == (package / "index.js").stat().st_ino
