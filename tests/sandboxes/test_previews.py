"""The preview supervisor on the real local backend, with real processes (no npm).

Each preview's command is a tiny Python HTTP server (or a shell line that fails on purpose),
started by `preview_boot` exactly as the background task starts it (tests/fakes/previews.py).
"""

from __future__ import annotations

import asyncio
import os
import shlex
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from sandboxes import previews, services
from sandboxes.models import Preview, SandboxSession

from ..fakes.previews import (
    PYTHON,
    SERVER,
    answers,
    group_members,
    new_preview,
    refused,
    wait_for_status,
    wait_until_gone,
    with_session,
)

pytestmark = pytest.mark.django_db(transaction=True)


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


def test_a_full_stack_workspace_serves_the_app_in_its_frontend_folder(tmp_path):
    """No package.json at the root but one in frontend/: the dev server runs there, and its
    node_modules are cached by that folder's package.json; a ".." never leaves the workspace."""
    from sandboxes.previews import app_command, app_root

    (tmp_path / "frontend").mkdir()
    (tmp_path / "frontend/package.json").write_text("{}")
    command = app_command(tmp_path)
    assert command == f"cd frontend && {Preview.DEFAULT_COMMAND}"
    assert app_root(tmp_path, command) == tmp_path / "frontend"
    assert app_root(tmp_path, "cd ../elsewhere && npm run dev") == tmp_path
    (tmp_path / "package.json").write_text("{}")
    assert app_command(tmp_path) == Preview.DEFAULT_COMMAND
    assert app_root(tmp_path, Preview.DEFAULT_COMMAND) == tmp_path
