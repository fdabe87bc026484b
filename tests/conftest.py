"""Shared fixtures: alice and bob, the Vite starter, sessions on the real local backend."""

from __future__ import annotations

import shutil

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from runs import agents_factory
from sandboxes.models import SandboxSession
from sandboxes.starters import seed_builtin_starters

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.DEMO_MODEL_DELAY = 0
    settings.SANDBOX_SNAPSHOT_DIR = tmp_path / "snapshots"
    settings.PREVIEW_LOG_DIR = tmp_path / "preview-logs"
    settings.PREVIEW_MODULES_CACHE = tmp_path / "node-modules-cache"
    settings.SANDBOX_WORKSPACE_DIR = tmp_path / "workspaces"
    settings.OPENAI_API_KEY_SET = False
    settings.AGENTS_TRACING = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_model_overrides():
    yield
    agents_factory.MODEL_OVERRIDES.clear()


def make_user(username: str):
    return get_user_model().objects.create_user(username, f"{username}@example.com", PASSWORD)


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
