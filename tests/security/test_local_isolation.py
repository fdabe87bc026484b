"""Item 10: local sandboxes cannot read the dashboard's secret key or database.

When the dashboard runs as root (as here and on CI), everything a local sandbox runs (the
agent's commands through the SDK, the console, preview dev servers, the node_modules cache
copies) runs as the unprivileged `sandbox-dashboard` account (`make setup` creates it), and
nothing in a workspace is created by root. The local backend is for staff users unless a
setting opens it, and the pages say how isolated it is.

They need the dashboard to run as root (it cannot switch users otherwise) and the account to
exist: without either they fail, saying so. A server that is not root shows a warning instead
(test_the_pages_say_how_isolated_local_sandboxes_are).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.urls import reverse

from runs.models import RunEvent
from sandboxes import isolation, services, workspace
from sandboxes.models import Preview, SandboxSession
from sandboxes.node_modules import remember_node_modules, warm_node_modules

from ..conftest import login, start_local_session
from ..fakes.previews import new_preview, wait_for_status
from ..helpers import answer_step, execute, patch_step, shell_step, use_model

ACCOUNT = "sandbox-dashboard"
ROOT = os.geteuid() == 0


def account():
    try:
        return pwd.getpwnam(ACCOUNT)
    except KeyError:
        pytest.fail(
            f"There is no {ACCOUNT} user: `make setup` (as root) creates it; local sandboxes "
            "would run as root and read the dashboard's secret key.",
            pytrace=False,
        )


@pytest.fixture
def secret_key_file() -> Path:
    """The dashboard's own secret key file, as config/settings.py made it."""
    path = Path(settings.DATA_DIR) / "secret_key"
    assert path.is_file(), "the test process's settings made no secret key file"
    return path


@pytest.fixture
def as_account(settings):
    """Local sandboxes as `make run` runs them as root: as the sandbox account, their
    workspaces in a folder it can pass through (pytest's tmp_path is 0700)."""
    if not ROOT:
        pytest.fail("These tests run as root: only root can run sandboxes as another user.")
    base = Path(tempfile.mkdtemp(prefix="sandbox-dashboard-test-", dir="/tmp"))
    base.chmod(0o711)
    settings.SANDBOX_USER = ACCOUNT
    settings.SANDBOX_WORKSPACE_DIR = base / "workspaces"
    settings.SANDBOX_CACHE_DIR = base / "sandbox-cache"
    settings.PREVIEW_MODULES_CACHE = base / "node-modules-cache"
    entry = account()
    identity = isolation.sandbox_identity()
    assert identity is not None, isolation.isolation().reason
    assert identity.uid == entry.pw_uid
    yield identity
    shutil.rmtree(base, ignore_errors=True)


def owner_of(path: Path) -> int:
    return os.lstat(path).st_uid


# --- the agent's commands and the SDK's files -----------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_an_agent_cannot_read_the_secret_key_and_its_files_are_its_own(
    as_account, alice, starter, secret_key_file
):
    session = await start_local_session(alice, starter)
    root = Path(session.workspace_root)
    use_model(
        "iso-model",
        [
            shell_step(f"id -un; cat {secret_key_file}", "c1"),
            patch_step(
                "*** Begin Patch\n*** Add File: tools/run.sh\n+echo ran as $(id -un)\n"
                "*** End Patch\n",
                "c2",
            ),
            shell_step(
                "chmod +x tools/run.sh && ./tools/run.sh && echo more >> package.json", "c3"
            ),
            answer_step("done"),
        ],
    )

    run = await execute(session, model="iso-model")

    assert run.status == "succeeded", run.error
    outputs = [
        e.payload.get("output", "")
        async for e in RunEvent.objects.filter(run=run, kind="tool_output").order_by("seq")
    ]
    events = json.dumps([e.payload async for e in RunEvent.objects.filter(run=run)])
    assert secret_key_file.read_text().strip() not in events
    assert outputs[0].startswith(ACCOUNT), outputs[0]
    assert "Permission denied" in outputs[0]
    assert f"ran as {ACCOUNT}" in outputs[2], outputs[2]
    # Nothing in the workspace was made by root: the starter's files, the patch's new folder
    # and file, the workspace folder itself.
    for path in (
        root,
        root / "package.json",
        root / "src" / "App.tsx",
        root / "tools",
        root / "tools" / "run.sh",
    ):
        assert owner_of(path) == as_account.uid, path
    assert (root.stat().st_mode & 0o777) == 0o700


# --- the console, a preview, the node_modules cache -----------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_console_and_a_preview_run_as_the_sandbox_account(
    as_account, alice, starter, secret_key_file, supervisor
):
    session = await start_local_session(alice, starter)
    root = Path(session.workspace_root)
    secret = secret_key_file.read_text().strip()

    text = "".join([t async for t in workspace.console(session, f"id -un; cat {secret_key_file}")])
    preview = await new_preview(
        session,
        f"cat {secret_key_file} > leak.txt 2>&1; "
        "exec python3 -m http.server {port} --bind {host}",
    )
    supervisor(preview)
    preview = await wait_for_status(preview, Preview.Status.READY)

    leak = (root / "leak.txt").read_text()
    assert secret not in text and secret not in leak
    assert text.startswith(ACCOUNT), text
    assert "Permission denied" in text and "Permission denied" in leak
    assert owner_of(root / "leak.txt") == as_account.uid
    status = Path(f"/proc/{preview.pid}/status").read_text()
    assert re.search(rf"^Uid:\s+{as_account.uid}\s", status, re.M), status
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M)
    assert re.search(r"^CapEff:\s+0+$", status, re.M)


@pytest.mark.django_db(transaction=True)
async def test_node_modules_are_cached_and_reused_by_the_sandbox_account(
    as_account, alice, starter
):
    first = await start_local_session(alice, starter)
    made = "".join(
        [
            t
            async for t in workspace.console(
                first, "mkdir -p node_modules/left-pad && echo 1 > node_modules/left-pad/index.js"
            )
        ]
    )
    assert "exit code 0" in made, made

    await sync_to_async(remember_node_modules)(Path(first.workspace_root))
    second = await start_local_session(alice, starter)
    note = await sync_to_async(warm_node_modules)(Path(second.workspace_root))

    assert note and "reused node_modules" in note
    cache = Path(settings.PREVIEW_MODULES_CACHE)
    (entry,) = cache.iterdir()
    reused = Path(second.workspace_root) / "node_modules" / "left-pad" / "index.js"
    for path in (
        cache,
        entry,
        entry / "left-pad",
        Path(second.workspace_root) / "node_modules",
        reused,
    ):
        assert owner_of(path) == as_account.uid, path
    # The copy is the sandbox's own: a later `npm install` may change it.
    changed = "".join(
        [t async for t in workspace.console(second, "echo 2 > node_modules/left-pad/new.js")]
    )
    assert "exit code 0" in changed, changed


# --- the real server: its secret key file and its database ----------------------------------------


def test_a_served_dashboards_secret_key_and_database_are_out_of_reach(dashboard):
    data = Path(dashboard.env["DASHBOARD_DATA_DIR"])
    database = Path(dashboard.env["DATABASE_URL"].removeprefix("sqlite:///"))
    assert (data / "secret_key").is_file() and database.is_file()
    assert database.stat().st_mode & 0o077 == 0, oct(database.stat().st_mode)
    alice = dashboard.login("alice")
    starter = json.loads(
        dashboard.shell(
            "import json; from sandboxes.models import Manifest;"
            "print(json.dumps(Manifest.objects.get(slug='vite-react').pk))"
        )
        .strip()
        .splitlines()[-1]
    )
    page = alice.get(f"/manifests/{starter}/")
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)[1]
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    created = alice.post(
        f"/manifests/{starter}/sessions/",
        data={
            "csrfmiddlewaretoken": csrf,
            "form_token": token,
            "backend": "local",
            "name": "iso",
            "exposed_ports": "",
        },
    )
    assert created.status_code == 302, created.text
    session_url = created.headers["location"]
    deadline = time.monotonic() + 60
    while 'data-testid="session-status">Running' not in (detail := alice.get(session_url).text):
        assert time.monotonic() < deadline and "Failed" not in detail, detail[-2000:]
        time.sleep(0.5)
    assert "cannot read the dashboard&#x27;s secret key" in detail

    command = f"id -un; cat {data / 'secret_key'}; head -c 16 {database}; ls {data}"
    output = alice.post(
        f"{session_url}workspace/console/",
        data={"command": command, "csrfmiddlewaretoken": csrf},
        headers={"x-csrftoken": csrf},
    ).text

    assert (data / "secret_key").read_text().strip() not in output
    assert ROOT, "the dashboard does not run as root here: its sandboxes read its files"
    assert output.startswith(ACCOUNT), output
    assert "SQLite format" not in output
    assert output.count("Permission denied") == 3, output  # the key, the database, the listing


# --- who may use the local backend, and what the pages say ----------------------------------------


@pytest.mark.django_db
def test_the_local_backend_is_for_staff_unless_a_setting_opens_it(
    client, alice, bob, starter, settings
):
    settings.LOCAL_SANDBOXES = "staff"
    alice.is_staff = True
    alice.save()
    login(client, bob)
    page = client.get(starter.get_absolute_url()).content.decode()
    assert 'value="local"' not in page
    assert "for staff users only" in page
    refused = client.post(reverse("session_create", args=[starter.pk]), {"backend": "local"})
    assert refused.status_code == 400
    assert not SandboxSession.objects.filter(owner=bob).exists()

    login(client, alice)
    page = client.get(starter.get_absolute_url()).content.decode()
    assert 'value="local"' in page and "for staff users only" not in page
    assert (
        client.post(reverse("session_create", args=[starter.pk]), {"backend": "local"}).status_code
        == 302
    )

    settings.LOCAL_SANDBOXES = "everyone"
    login(client, bob)
    assert 'value="local"' in client.get(starter.get_absolute_url()).content.decode()


@pytest.mark.django_db(transaction=True)
async def test_a_local_session_of_a_user_who_lost_access_runs_nothing(alice, starter, settings):
    session = await start_local_session(alice, starter)
    settings.LOCAL_SANDBOXES = "staff"  # alice is not staff

    with pytest.raises(workspace.WorkspaceUnavailable, match="staff users only"):
        await workspace.check_available(session)
    run = await execute(session)
    assert run.status == "failed" and "staff users only" in run.error
    again = await SandboxSession.objects.acreate(
        owner=alice, manifest=starter, name="again", backend="local"
    )
    await services.session_start(session_id=again.pk)
    await again.arefresh_from_db()
    assert again.status == SandboxSession.Status.FAILED
    assert "staff users only" in again.last_error


@pytest.mark.django_db
def test_the_pages_say_how_isolated_local_sandboxes_are(
    client, alice, starter, monkeypatch, as_account
):
    login(client, alice)
    page = client.get(starter.get_absolute_url()).content.decode()
    assert f"run as the unprivileged user {ACCOUNT}" in page
    assert "cannot read the dashboard&#x27;s secret key or database" in page
    # A server that is not root cannot switch users, and says what that means.
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(isolation.pwd, "getpwuid", lambda uid: type("P", (), {"pw_name": "dash"}))
    page = client.get(starter.get_absolute_url()).content.decode()
    assert "run as dash, the dashboard&#x27;s own user" in page
    assert "their commands can read its secret key and database" in page


def test_the_sdk_hooks_the_isolation_relies_on_are_still_there():
    """An SDK upgrade that renames them must fail here, not run sandboxes as root."""
    from agents.sandbox.sandboxes.unix_local import UnixLocalSandboxClient, UnixLocalSandboxSession

    for name in (
        "_confined_exec_command",
        "_prepare_exec_command",
        "_resolved_exec_context",
        "_prepare_backend_workspace",
        "_run_file_operation_as_user",
        "_write_new_file",
        "from_state",
    ):
        assert callable(getattr(UnixLocalSandboxSession, name, None)), name
    assert callable(getattr(UnixLocalSandboxClient, "_wrap_session", None))


def test_the_manifest_and_session_pages_say_it_in_a_browser(dashboard, browser, page_errors):
    from playwright.sync_api import expect

    from ..e2e.conftest import login, open_sandbox, shot

    for viewport, suffix in (
        ({"width": 1440, "height": 900}, ""),
        ({"width": 390, "height": 844}, "-phone"),
    ):
        context = browser.new_context(base_url=dashboard.url, viewport=viewport)
        context.on("page", page_errors.watch)
        try:
            page = login(context, "alice")
            open_sandbox(page)
            note = page.get_by_test_id("local-isolation")
            expect(note).to_contain_text(f"run as the unprivileged user {ACCOUNT}")
            shot(page, f"local-isolation-session{suffix}")
            page.go_back()
            expect(page.get_by_test_id("local-isolation")).to_contain_text(
                "cannot read the dashboard's secret key or database"
            )
            shot(page, f"local-isolation-manifest{suffix}")
        finally:
            context.close()


def test_the_dashboard_does_not_follow_a_workspace_symlink_to_its_own_files(
    tmp_path, secret_key_file
):
    """The node_modules cache key reads package.json as the dashboard (root): a sandbox that
    makes it a link to the secret key must not get root to read the key."""
    from sandboxes.node_modules import modules_key

    (tmp_path / "package.json").symlink_to(secret_key_file)
    assert modules_key(tmp_path) is None
    (tmp_path / "package.json").unlink()
    (tmp_path / "package.json").write_text('{"name": "app"}')
    (tmp_path / "package-lock.json").symlink_to(secret_key_file)
    alone = modules_key(tmp_path)
    (tmp_path / "package-lock.json").unlink()
    assert alone == modules_key(tmp_path)  # the linked lock file was not read
