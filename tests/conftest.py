"""Shared fixtures: alice and bob, the Vite starter, sessions on the real local backend.

The fakes' fixtures (tests/fakes/) are registered here for every module; they are never autouse,
so a module picks the ones it needs.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from runs import agents_factory
from runs.models import Run
from sandboxes.models import SandboxSession
from sandboxes.starters import seed_builtin_starters

pytest_plugins = [
    "tests.browser",
    "tests.fakes.e2b",
    "tests.fakes.previews",
    "tests.fakes.proxy",
    "tests.fakes.snapshots",
]

PASSWORD = "correct horse battery staple"
SCALE_TESTS = Path(__file__).resolve().parent / "scale"


def pytest_ignore_collect(collection_path, config):
    """tests/scale/ needs PostgreSQL, Redis and its own processes: `make test-scale` runs it
    (scripts/test-scale); a plain `pytest` leaves it out unless it is named."""
    if collection_path == SCALE_TESTS:
        named = (Path(arg.split("::")[0]).resolve() for arg in config.args)
        if not any(path == SCALE_TESTS or SCALE_TESTS in path.parents for path in named):
            return True
    return None


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.DEMO_MODEL_DELAY = 0
    settings.SANDBOX_SNAPSHOT_DIR = tmp_path / "snapshots"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PREVIEW_LOG_DIR = tmp_path / "preview-logs"
    settings.PREVIEW_MODULES_CACHE = tmp_path / "node-modules-cache"
    settings.SANDBOX_WORKSPACE_DIR = tmp_path / "workspaces"
    settings.SANDBOX_CACHE_DIR = tmp_path / "sandbox-cache"
    # A chromium per snapshot would slow every share test; tests/comparisons/test_snapshots.py
    # turns it on where it checks the screenshot.
    settings.SHARE_SNAPSHOT_SCREENSHOTS = False
    settings.STORAGES = settings.STORAGES | {
        "snapshots": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "share-snapshots")},
        }
    }
    # Local sandboxes run as the test process's own user, and alice and bob may use them;
    # tests/security/test_local_isolation.py runs them as the sandbox account, staff-only.
    settings.SANDBOX_USER = ""
    settings.LOCAL_SANDBOXES = "everyone"
    settings.OPENAI_API_KEY_SET = False
    settings.AGENTS_TRACING = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
async def tasks_here():
    """Background tasks (a run re-queued after its approvals) run on this test's own loop,
    as they run on the server's loop under daphne."""
    from lib import task_backends

    task_backends._server_loop = asyncio.get_running_loop()
    yield
    task_backends._server_loop = None


@pytest.fixture(autouse=True)
def _no_model_overrides():
    yield
    agents_factory.MODEL_OVERRIDES.clear()


def make_user(username: str):
    return get_user_model().objects.create_user(username, f"{username}@example.com", PASSWORD)


def login(client, user):
    """`client` logged in as `user` through the real authentication backend."""
    assert client.login(username=user.username, password=PASSWORD)
    return client


async def alogin(async_client, user):
    assert await async_client.alogin(username=user.username, password=PASSWORD)
    return async_client


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def starter(db):
    return next(m for m in seed_builtin_starters() if m.slug == "vite-react")


async def start_local_session(owner, manifest) -> SandboxSession:
    """A session on the real local backend, started the way the background task starts it."""
    from sandboxes import services

    session = await SandboxSession.objects.acreate(
        owner=owner, manifest=manifest, name="test sandbox", backend="local"
    )
    await services.session_start(session_id=session.pk)
    await session.arefresh_from_db()
    assert session.status == SandboxSession.Status.RUNNING, session.last_error
    return session


@pytest.fixture
async def local_session(alice, starter):
    session = await start_local_session(alice, starter)
    yield session
    await session.arefresh_from_db()
    if session.workspace_root:
        await sync_to_async(shutil.rmtree)(session.workspace_root, ignore_errors=True)


@pytest.fixture
async def thread(local_session):
    """An empty conversation on `local_session`."""
    from runs.models import Thread

    return await Thread.objects.acreate(owner_id=local_session.owner_id, session=local_session)


@pytest.fixture
def alice_session(alice, starter):
    """A running session of alice's in the database only (its workspace does not exist)."""
    return SandboxSession.objects.create(
        owner=alice,
        manifest=starter,
        name="alice sandbox",
        status=SandboxSession.Status.RUNNING,
        sdk_state={"type": "unix_local", "manifest": {"root": "/nonexistent"}},
    )


@pytest.fixture
def alice_run(alice, alice_session):
    return Run.objects.create(
        owner=alice, session=alice_session, config={"name": "A", "model": "demo"}, prompt="hi"
    )
