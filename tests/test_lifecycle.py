"""Session lifecycle: pause, resume and extend; the reaper; filters, bulk shutdown and the admin's
actions; Docker only where an engine answers.

E2B is faked as in tests/test_e2b_backend.py (its FakeSandbox, FakeE2BCloud and FakeNetwork),
extended to record `pause`, `kill` and `set_timeout`. Local sessions, previews and processes are
real.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import e2b
import e2b_code_interpreter
import httpx
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from runs.models import Run, RunEvent
from runs.reaper import reap_stale_runs
from runs.secrets import is_sealed, seal, unseal
from runs.services import RunRefused, run_start
from sandboxes import services
from sandboxes.backends import BackendUnavailable, DockerBackend, get_backend
from sandboxes.forms import SessionForm
from sandboxes.models import Preview, SandboxSession

from . import test_e2b_backend, test_previews
from .conftest import PASSWORD, start_local_session
from .helpers import config, execute
from .test_e2b_backend import FakeE2BCloud, FakeNetwork, FakeSandbox, form_data

pytestmark = pytest.mark.django_db(transaction=True)

# Fixtures reused as they are (not autouse: the local previews below talk real httpx).
supervisor = test_previews.supervisor
e2b_key = test_e2b_backend.e2b_key
enqueued = test_e2b_backend.enqueued

Status = SandboxSession.Status
SECRET = "tok-" + "9c1e47ab" * 4
APP = "src/App.tsx"


def read(path: str | Path) -> str:
    with open(path) as f:
        return f.read()


def database_dump() -> str:
    """Every row of every table, as SQL text."""
    connection.ensure_connection()
    return "\n".join(connection.connection.iterdump())


# --- E2B, faked ----------------------------------------------------------------------------------


class LifecycleSandbox(FakeSandbox):
    """The fake E2B sandbox, also recording pause, kill and set_timeout."""

    cloud: LifecycleCloud

    async def set_timeout(self, timeout: int, **opts) -> None:  # noqa: ASYNC109 (e2b's own)
        self.check_running()  # E2B extends a running sandbox
        self.cloud.timeouts.append((self.sandbox_id, timeout))

    async def pause(self, **opts) -> str:
        self.cloud.pauses.append(self.sandbox_id)
        return await super().pause(**opts)

    async def kill(self, **opts) -> bool:
        self.cloud.kills.append(self.sandbox_id)
        return await super().kill(**opts)


class LifecycleCloud(FakeE2BCloud):
    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[tuple[str, int]] = []
        self.pauses: list[str] = []
        self.kills: list[str] = []

    def sandbox_class(self, kind: str) -> type[LifecycleSandbox]:
        return type(f"LifecycleSandbox_{kind}", (LifecycleSandbox,), {"cloud": self, "kind": kind})


@pytest.fixture
def offline(monkeypatch) -> FakeNetwork:
    """httpx replaced as test_e2b_backend's autouse `e2b_http` does, for E2B tests only."""
    network = FakeNetwork()

    async def handle_async_request(transport, request):
        return await network.handle(request)

    def handle_request(transport, request):
        raise httpx.ConnectError("no route to host (tests run offline)", request=request)

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", handle_async_request)
    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle_request)
    return network


@pytest.fixture
def cloud(monkeypatch, offline, e2b_key) -> LifecycleCloud:
    cloud = LifecycleCloud()
    monkeypatch.setattr(e2b, "AsyncSandbox", cloud.sandbox_class("e2b"))
    monkeypatch.setattr(e2b_code_interpreter, "AsyncSandbox", cloud.sandbox_class("code"))
    return cloud


async def e2b_session(owner, manifest, name: str = "cloud box", **options) -> SandboxSession:
    session = await SandboxSession.objects.acreate(
        owner=owner,
        manifest=manifest,
        name=name,
        backend="e2b",
        options={"exposed_ports": [], "timeout": 600, **options},
    )
    await services.session_start(session_id=session.pk)
    await session.arefresh_from_db()
    assert session.status == Status.RUNNING, session.last_error
    return session


def assert_about(moment, expected, slack: float = 5) -> None:
    assert moment is not None
    assert abs((moment - expected).total_seconds()) <= slack, (moment, expected)


@pytest.mark.parametrize(
    ("on_timeout", "auto_resume", "lifecycle"),
    [
        ("pause", None, {"on_timeout": "pause", "auto_resume": False}),  # unchecked
        ("pause", "on", {"on_timeout": "pause", "auto_resume": True}),
        ("kill", "on", {"on_timeout": "kill"}),  # E2B: auto_resume only applies to pause
    ],
)
async def test_the_form_s_lifecycle_metadata_and_envs_reach_e2b_and_envs_are_sealed(
    async_client, alice, starter, cloud, offline, enqueued, on_timeout, auto_resume, lifecycle
):
    envs = {"API_TOKEN": SECRET, "REGION": "mars-north-7"}
    await async_client.aforce_login(alice)
    response = await async_client.post(
        reverse("session_create", args=[starter.pk]),
        form_data(
            timeout="600",
            on_timeout=on_timeout,
            auto_resume=auto_resume,
            metadata="team=web\n owner = alice \n\n",
            envs=f"API_TOKEN={SECRET}\nREGION=mars-north-7\n",
        ),
    )
    assert response.status_code == 302
    session = await SandboxSession.objects.aget(owner=alice)
    assert enqueued == [(session.pk,)]
    assert session.options["on_timeout"] == on_timeout
    assert session.options["auto_resume"] is (auto_resume == "on")
    assert session.options["metadata"] == {"team": "web", "owner": "alice"}
    assert is_sealed(session.options["envs"])
    assert unseal(session.options["envs"]) == envs

    await services.session_start(session_id=session.pk)
    await session.arefresh_from_db()

    assert session.status == Status.RUNNING, session.last_error
    [(_, received)] = cloud.creates
    assert received["envs"] == envs
    assert received["metadata"] == {"team": "web", "owner": "alice"}
    assert received["lifecycle"] == lifecycle
    assert received["timeout"] == 600
    state = session.sdk_state
    assert is_sealed(state["base_envs"])
    assert unseal(state["base_envs"]) == envs
    assert (state["on_timeout"], state["auto_resume"]) == (on_timeout, auto_resume == "on")
    assert state["metadata"] == {"team": "web", "owner": "alice"}
    # Nowhere in the database in clear: not in the options, not in the SDK state, not anywhere.
    dump = await sync_to_async(database_dump)()
    assert "sealed:" in dump
    assert SECRET not in dump
    assert "mars-north-7" not in dump
    assert SECRET not in json.dumps([session.options, session.sdk_state])
    assert_about(session.timeout_at, timezone.now() + timedelta(seconds=600))
    assert offline.requests == []


async def test_pause_pauses_the_e2b_sandbox_and_resume_reconnects_to_the_same_one(
    alice, starter, cloud
):
    session = await e2b_session(alice, starter, envs=seal({"API_TOKEN": SECRET}))
    sandbox = cloud.only_sandbox()
    assert session.timeout_at is not None

    await services.session_pause(session=session)
    await session.arefresh_from_db()

    assert session.status == Status.PAUSED
    assert session.timeout_at is None
    assert sandbox.status == "paused"
    assert cloud.pauses == [sandbox.sandbox_id]
    assert cloud.kills == []
    assert session.sdk_state["sandbox_id"] == sandbox.sandbox_id
    # The state stored again after the pause keeps the envs sealed.
    assert is_sealed(session.sdk_state["base_envs"])
    assert unseal(session.sdk_state["base_envs"]) == {"API_TOKEN": SECRET}

    connects = len(cloud.connects)
    await services.session_resume(session=session)
    await session.arefresh_from_db()

    assert session.status == Status.RUNNING, session.last_error
    assert session.last_error == ""
    assert cloud.connects[connects:] == [sandbox.sandbox_id]
    assert len(cloud.creates) == 1  # the same sandbox, never a new one
    assert session.sdk_state["sandbox_id"] == sandbox.sandbox_id
    assert unseal(session.sdk_state["base_envs"]) == {"API_TOKEN": SECRET}
    assert SECRET not in json.dumps(session.sdk_state)
    assert_about(session.timeout_at, timezone.now() + timedelta(seconds=600))
    # Its files are the ones it was paused with.
    entry = await starter.entries.aget(path=APP)
    async with services.sandbox_attached(session) as sdk_session:
        content = (await sdk_session.read(Path(APP))).read()
    assert content == entry.content.encode()
    assert cloud.kills == []


async def test_after_pause_and_resume_the_e2b_sandbox_runs_and_keeps_its_pause_on_exit(
    alice, starter, cloud
):
    session = await e2b_session(alice, starter, pause_on_exit=False)
    sandbox = cloud.only_sandbox()

    await services.session_pause(session=session)
    await services.session_resume(session=session)
    await session.arefresh_from_db()

    assert session.status == Status.RUNNING
    assert session.sdk_state["pause_on_exit"] is False
    assert sandbox.status == "running"
    assert cloud.pauses == [sandbox.sandbox_id]  # the pause asked for, and no other


async def test_extend_sets_the_sandbox_s_timeout_and_the_session_s_deadline(alice, starter, cloud):
    session = await e2b_session(alice, starter)
    sandbox = cloud.only_sandbox()
    assert_about(session.timeout_at, timezone.now() + timedelta(seconds=600))

    await services.session_extend(session=session, seconds=1800)
    await session.arefresh_from_db()

    assert cloud.timeouts == [(sandbox.sandbox_id, 1800)]
    assert_about(session.timeout_at, timezone.now() + timedelta(seconds=1800))
    assert session.status == Status.RUNNING
    assert len(cloud.creates) == 1


async def test_a_paused_session_refuses_runs(alice, starter, cloud):
    session = await e2b_session(alice, starter)
    await services.session_pause(session=session)

    with pytest.raises(RunRefused, match="paused"):
        await sync_to_async(run_start)(
            owner=alice, session=session, config=config(), prompt="Build the page"
        )
    assert not await Run.objects.aexists()
    with pytest.raises(services.SessionNotReady, match="paused"):
        await services.session_extend(session=session, seconds=600)
    assert cloud.timeouts == []


@pytest.mark.parametrize("run_status", [Run.Status.QUEUED, Run.Status.RUNNING])
async def test_pause_while_a_run_is_active_is_refused_and_changes_nothing(
    alice, starter, cloud, run_status
):
    session = await e2b_session(alice, starter)
    sandbox = cloud.only_sandbox()
    run = await Run.objects.acreate(
        owner=alice,
        session=session,
        config=config(),
        prompt="p",
        status=run_status,
        heartbeat_at=timezone.now(),
    )
    before = (session.status, session.sdk_state, session.timeout_at)
    connects = list(cloud.connects)

    with pytest.raises(services.SessionBusy):
        await services.session_pause(session=session)

    await session.arefresh_from_db()
    await run.arefresh_from_db()
    assert (session.status, session.sdk_state, session.timeout_at) == before
    assert sandbox.status == "running"
    assert cloud.pauses == [] and cloud.kills == []
    assert cloud.connects == connects  # not even attached
    assert run.status == run_status


async def test_a_session_whose_backend_is_no_longer_offered_still_shuts_down(
    alice, starter, cloud, monkeypatch
):
    session = await e2b_session(alice, starter)
    monkeypatch.delenv("E2B_API_KEY")

    await services.session_shutdown(session=session)

    await session.arefresh_from_db()
    assert session.status == Status.STOPPED
    assert "could not be reached" in session.last_error


# --- local sessions: pause and resume ------------------------------------------------------------


async def test_pausing_a_local_session_stops_its_previews_keeps_its_workspace_and_resume_runs(
    alice, local_session, supervisor
):
    root = local_session.workspace_root
    with open(os.path.join(root, "notes.txt"), "w") as f:
        f.write("kept across a pause\n")
    preview = await test_previews.new_preview(local_session)
    supervisor(preview)
    await test_previews.wait_for_status(preview, Preview.Status.READY)
    url, group = preview.upstream_url, preview.pid
    assert await test_previews.answers(url) == 200

    await services.session_pause(session=local_session)
    await local_session.arefresh_from_db()
    await preview.arefresh_from_db()

    assert local_session.status == Status.PAUSED
    assert preview.status == Preview.Status.STOPPED
    assert await test_previews.wait_until_gone(group) == []
    assert await test_previews.refused(url)
    assert local_session.workspace_root == root
    assert read(os.path.join(root, "notes.txt")) == "kept across a pause\n"
    assert os.path.isfile(os.path.join(root, APP))
    with pytest.raises(RunRefused, match="paused"):
        await sync_to_async(run_start)(
            owner=alice, session=local_session, config=config(), prompt="x"
        )

    await services.session_resume(session=local_session)
    await local_session.arefresh_from_db()
    assert local_session.status == Status.RUNNING, local_session.last_error
    assert local_session.last_error == ""

    run = await execute(local_session, "A violet page for a resumed sandbox", model="demo")
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert "A violet page for a resumed sandbox" in read(os.path.join(root, APP))
    assert read(os.path.join(root, "notes.txt")) == "kept across a pause\n"


# --- the reaper ----------------------------------------------------------------------------------


def age(path: str | Path, seconds: float) -> None:
    moment = time.time() - seconds
    os.utime(path, (moment, moment))


async def test_a_local_session_whose_workspace_vanished_ends_stopped(settings, alice, starter):
    gone = await start_local_session(alice, starter)
    paused_gone = await start_local_session(alice, starter)
    await services.session_pause(session=paused_gone)
    kept = await start_local_session(alice, starter)
    for session in (gone, paused_gone, kept):
        assert Path(session.workspace_root).parent == settings.SANDBOX_WORKSPACE_DIR
    shutil.rmtree(gone.workspace_root)
    shutil.rmtree(paused_gone.workspace_root)

    assert await services.reap_sessions() == 2

    for session in (gone, paused_gone):
        await session.arefresh_from_db()
        assert session.status == Status.STOPPED
        assert session.stopped_at is not None
        assert session.last_error == (
            f"Its workspace {session.workspace_root} is gone; the sandbox no longer exists."
        )
    await kept.arefresh_from_db()
    assert kept.status == Status.RUNNING
    assert os.path.isdir(kept.workspace_root)


async def test_old_orphan_workspaces_are_removed_young_and_owned_ones_kept(
    settings, alice, starter
):
    owned = await start_local_session(alice, starter)
    paused = await start_local_session(alice, starter)
    await services.session_pause(session=paused)
    stopped = await start_local_session(alice, starter)
    # Stopped in the database, its directory left behind (a crash mid-shutdown): an orphan.
    await SandboxSession.objects.filter(pk=stopped.pk).aupdate(status=Status.STOPPED)
    base = settings.SANDBOX_WORKSPACE_DIR
    old = base / "session-90001"  # no such session: left by a crash
    (old / "src").mkdir(parents=True)
    (old / "src" / "App.tsx").write_text("left by a crash")
    young = base / "session-90002"
    young.mkdir()
    other = base / "not-a-workspace"
    other.mkdir()
    for path in (old, other, owned.workspace_root, paused.workspace_root, stopped.workspace_root):
        age(path, 2 * 3600)
    age(young, 30 * 60)

    assert await services.reap_sessions() == 2

    assert not old.exists()
    assert not os.path.exists(stopped.workspace_root)
    assert young.is_dir()
    assert other.is_dir()
    for session in (owned, paused):
        assert os.path.isfile(os.path.join(session.workspace_root, APP))
        before = session.status
        await session.arefresh_from_db()
        assert session.status == before


def spawn_sleep(cwd: str | Path) -> subprocess.Popen:
    return subprocess.Popen(["sleep", "300"], cwd=cwd, start_new_session=True)


def reap_child(process: subprocess.Popen) -> int:
    return process.wait(timeout=10)


def end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


async def test_reaping_a_stale_run_kills_its_leftover_process_but_not_its_preview(
    local_session, supervisor, settings, tmp_path
):
    settings.RUN_STALE_SECONDS = 60
    root = local_session.workspace_root
    preview = await test_previews.new_preview(local_session)
    supervisor(preview)
    await test_previews.wait_for_status(preview, Preview.Status.READY)
    leftover = spawn_sleep(os.path.join(root, "src"))  # e.g. a command the run started
    outsider = spawn_sleep(tmp_path)  # not in the workspace: none of the reaper's business
    try:
        old = timezone.now() - timedelta(seconds=120)
        run = await Run.objects.acreate(
            owner_id=local_session.owner_id,
            session=local_session,
            config=config(),
            prompt="p",
            status=Run.Status.RUNNING,
            started_at=old,
            heartbeat_at=old,
        )

        assert await reap_stale_runs() == 1

        assert await sync_to_async(reap_child)(leftover) == -signal.SIGKILL
        assert outsider.poll() is None
        await preview.arefresh_from_db()
        assert preview.status == Preview.Status.READY
        assert test_previews.group_members(preview.pid)
        assert await test_previews.answers(preview.upstream_url) == 200
        assert os.path.isfile(os.path.join(root, APP))
        await run.arefresh_from_db()
        assert run.status == Run.Status.INTERRUPTED
        assert run.error.startswith("No heartbeat for over 60 s")
        last = await RunEvent.objects.filter(run=run).order_by("seq").alast()
        assert (last.kind, last.payload["status"]) == ("state", "interrupted")
        await local_session.arefresh_from_db()
        assert local_session.status == Status.RUNNING
    finally:
        end(leftover)
        end(outsider)


# --- views ---------------------------------------------------------------------------------------


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def listed(alice, bob, starter) -> dict[str, SandboxSession]:
    def make(owner, name, status, backend="local"):
        return SandboxSession.objects.create(
            owner=owner, manifest=starter, name=name, status=status, backend=backend
        )

    return {
        "running": make(alice, "alice running local", Status.RUNNING),
        "paused": make(alice, "alice paused local", Status.PAUSED),
        "creating": make(alice, "alice creating e2b", Status.CREATING, "e2b"),
        "e2b": make(alice, "alice running e2b", Status.RUNNING, "e2b"),
        "stopped": make(alice, "alice stopped local", Status.STOPPED),
        "failed": make(alice, "alice failed local", Status.FAILED),
        "bob": make(bob, "bob running local", Status.RUNNING),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"running", "paused", "creating", "e2b"}),
        ("?status=live", {"running", "paused", "creating", "e2b"}),
        ("?status=paused", {"paused"}),
        ("?backend=local", {"running", "paused"}),
        ("?backend=e2b", {"creating", "e2b"}),
        ("?status=all", {"running", "paused", "creating", "e2b", "stopped", "failed"}),
        ("?status=stopped&backend=local", {"stopped"}),
        ("?status=running&backend=e2b", {"e2b"}),
    ],
)
def test_the_session_list_filters_by_status_and_backend(client, alice, listed, query, expected):
    response = login(client, alice).get(reverse("session_list") + query)

    assert response.status_code == 200
    assert {s.pk for s in response.context["sessions"]} == {listed[k].pk for k in expected}
    page = response.content.decode()
    for key, session in listed.items():
        assert (session.name in page) is (key in expected), (key, query)
        checkbox = f'name="session" value="{session.pk}"'
        assert (checkbox in page) is (key in expected and key != "stopped"), (key, query)


async def test_bulk_shutdown_stops_the_selected_sessions_of_their_owner_only(
    async_client, alice, bob, starter
):
    first = await start_local_session(alice, starter)
    second = await start_local_session(alice, starter)
    spared = await start_local_session(alice, starter)
    bobs = await start_local_session(bob, starter)
    try:
        await async_client.aforce_login(alice)
        response = await async_client.post(
            reverse("session_bulk_shutdown"),
            {"session": [str(first.pk), str(second.pk), str(bobs.pk), "nonsense"]},
        )

        assert response.status_code == 302
        assert response.url == reverse("session_list")
        for session in (first, second):
            await session.arefresh_from_db()
            assert session.status == Status.STOPPED
            assert not os.path.exists(session.workspace_root)
        for session in (spared, bobs):
            await session.arefresh_from_db()
            assert session.status == Status.RUNNING
            assert os.path.isfile(os.path.join(session.workspace_root, APP))
        page = (await async_client.get(reverse("session_list"))).content.decode()
        assert "Shut down 2 sandbox(es)." in page
    finally:
        for session in (spared, bobs):
            shutil.rmtree(session.workspace_root, ignore_errors=True)


async def test_another_user_gets_404_on_pause_resume_and_extend(
    async_client, alice, bob, starter, cloud
):
    running = await e2b_session(alice, starter, name="running")
    paused = await e2b_session(alice, starter, name="paused")
    await services.session_pause(session=paused)
    await paused.arefresh_from_db()
    seen = (list(cloud.connects), list(cloud.pauses), list(cloud.timeouts))
    before = {s.pk: (s.status, s.sdk_state, s.timeout_at) for s in (running, paused)}

    await async_client.aforce_login(bob)
    for name, session in [
        ("session_pause", running),
        ("session_extend", running),
        ("session_resume", paused),
    ]:
        response = await async_client.post(reverse(name, args=[session.pk]), {"minutes": "30"})
        assert response.status_code == 404, name

    for session in (running, paused):
        await session.arefresh_from_db()
        assert (session.status, session.sdk_state, session.timeout_at) == before[session.pk]
    assert (cloud.connects, cloud.pauses, cloud.timeouts) == seen


async def test_extend_through_the_page_sets_the_timeout(async_client, alice, starter, cloud):
    session = await e2b_session(alice, starter)
    sandbox = cloud.only_sandbox()
    await async_client.aforce_login(alice)

    response = await async_client.post(
        reverse("session_extend", args=[session.pk]), {"minutes": "30"}
    )

    assert response.status_code == 302
    assert response.url == session.get_absolute_url()
    assert cloud.timeouts == [(sandbox.sandbox_id, 1800)]
    await session.arefresh_from_db()
    assert_about(session.timeout_at, timezone.now() + timedelta(seconds=1800))
    page = (await async_client.get(session.get_absolute_url())).content.decode()
    assert "Timeout set to 30 min from now." in page


@pytest.mark.parametrize("minutes", ["0", "1441", "-5", "1.5", "abc", "", "99999999999"])
async def test_extend_with_bad_minutes_shows_an_error_and_changes_nothing(
    async_client, alice, starter, cloud, minutes
):
    session = await e2b_session(alice, starter)
    before = (session.status, session.sdk_state, session.timeout_at)
    connects = list(cloud.connects)
    await async_client.aforce_login(alice)

    response = await async_client.post(
        reverse("session_extend", args=[session.pk]), {"minutes": minutes}
    )

    assert response.status_code == 302
    assert response.url == session.get_absolute_url()
    page = (await async_client.get(session.get_absolute_url())).content.decode()
    assert "Give 1 to 1440 minutes." in page
    assert "Timeout set to" not in page
    await session.arefresh_from_db()
    assert (session.status, session.sdk_state, session.timeout_at) == before
    assert cloud.timeouts == []
    assert cloud.connects == connects


@pytest.mark.parametrize("endpoint", ["session_extend", "session_bulk_shutdown"])
async def test_superscript_digits_are_bad_input_not_a_server_error(
    async_client, alice, starter, cloud, endpoint
):
    session = await e2b_session(alice, starter)
    await async_client.aforce_login(alice)
    if endpoint == "session_extend":
        url, data = reverse(endpoint, args=[session.pk]), {"minutes": "²"}
    else:
        url, data = reverse(endpoint), {"session": ["²", str(session.pk)]}

    response = await async_client.post(url, data)

    assert response.status_code == 302


# --- admin ---------------------------------------------------------------------------------------


async def test_the_admin_shut_down_action_stops_the_selected_sessions(client, alice, starter):
    admin = await sync_to_async(get_user_model().objects.create_superuser)(
        "root", "root@example.com", PASSWORD
    )
    first = await start_local_session(alice, starter)
    second = await start_local_session(alice, starter)
    spared = await start_local_session(alice, starter)
    try:
        await sync_to_async(client.force_login)(admin)
        changelist = reverse("admin:sandboxes_sandboxsession_changelist")
        response = await sync_to_async(client.post)(
            changelist,
            {
                "action": "shut_down",
                "_selected_action": [str(first.pk), str(second.pk)],
                "select_across": "0",
                "index": "0",
            },
        )

        assert response.status_code == 302
        for session in (first, second):
            await session.arefresh_from_db()
            assert session.status == Status.STOPPED
            assert not os.path.exists(session.workspace_root)
        await spared.arefresh_from_db()
        assert spared.status == Status.RUNNING
        page = (await sync_to_async(client.get)(changelist)).content.decode()
        assert "Shut down 2 sandbox(es)." in page
    finally:
        shutil.rmtree(spared.workspace_root, ignore_errors=True)


# --- Docker --------------------------------------------------------------------------------------


@pytest.fixture
def docker_probe(monkeypatch):
    """Forget the cached answer of the Docker engine probe (restored after the test)."""
    monkeypatch.setattr(DockerBackend, "_checked", (float("-inf"), False))


def backend_choices() -> list[str]:
    return [choice for choice, _ in SessionForm().fields["backend"].choices]


DOCKER_FORM = {"backend": "docker", "image": "python:3.12-slim", "network": "none"}


def test_without_a_docker_engine_docker_is_not_offered(
    docker_probe, monkeypatch, tmp_path, alice, starter
):
    # The real probe, pointed at a socket nothing listens on (whatever this machine has).
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")

    assert "docker" not in backend_choices()
    assert "local" in backend_choices()
    form = SessionForm(data={**DOCKER_FORM, "exposed_ports": ""})
    assert not form.is_valid()
    assert "docker is not one of the available choices" in str(form.errors["backend"])
    with pytest.raises(BackendUnavailable, match="Docker backend is not configured"):
        get_backend("docker")
    with pytest.raises(BackendUnavailable):
        services.session_create(owner=alice, manifest=starter, backend_id="docker")
    assert not SandboxSession.objects.exists()


class FakeDockerClient:
    def __init__(self) -> None:
        self.pings = 0

    def ping(self) -> bool:
        self.pings += 1
        return True


def test_with_an_engine_that_answers_docker_is_offered_and_its_options_mapped(
    docker_probe, monkeypatch
):
    import docker

    engine = FakeDockerClient()
    asked: list[dict] = []

    def from_env(**kwargs):
        asked.append(kwargs)
        return engine

    monkeypatch.setattr(docker, "from_env", from_env)

    assert "docker" in backend_choices()
    assert engine.pings == 1
    backend = get_backend("docker")
    assert backend.id == "docker"
    assert engine.pings == 1  # the answer is cached
    assert asked == [{"timeout": 2}]

    # E2B's fields are ignored for Docker; network "none" maps to network_mode "none".
    form = SessionForm(data={**DOCKER_FORM, "exposed_ports": "", "timeout": "900"})
    assert form.is_valid(), form.errors
    options = form.backend_options()
    assert options == {"exposed_ports": [], "image": "python:3.12-slim", "network": "none"}
    mapped = backend.client_options(options)
    assert mapped.image == "python:3.12-slim"
    assert mapped.network_mode == "none"
    assert tuple(mapped.exposed_ports) == ()
    assert mapped.labels == {"sandbox-dashboard": "1"}

    form = SessionForm(
        data={"backend": "docker", "image": "", "network": "default", "exposed_ports": "8080, 4173"}
    )
    assert form.is_valid(), form.errors
    mapped = backend.client_options(form.backend_options())
    assert mapped.image == DockerBackend.DEFAULT_IMAGE
    assert mapped.network_mode is None
    assert tuple(mapped.exposed_ports) == (8080, 4173)


def test_docker_without_network_and_with_ports_is_refused_by_the_form_not_at_start(
    docker_probe, monkeypatch
):
    import docker

    monkeypatch.setattr(docker, "from_env", lambda **kwargs: FakeDockerClient())
    form = SessionForm(data={**DOCKER_FORM, "exposed_ports": "4173"})
    if form.is_valid():
        get_backend("docker").client_options(form.backend_options())
    else:
        assert form.errors
