"""Fixtures of the lane group tests."""

from __future__ import annotations

import os
import shutil
from types import SimpleNamespace

import pytest

import runs.tasks
from sandboxes.models import SandboxSession
from sandboxes.starters import seed_builtin_starters


@pytest.fixture
def remove_lane_workspaces(transactional_db):
    """Every lane gets a fresh local sandbox (a directory on this machine): remove them."""
    yield
    for session in SandboxSession.objects.all():
        root = session.workspace_root
        if root and os.path.isdir(root) and root not in {"/", os.path.expanduser("~")}:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fullstack(db):
    return next(m for m in seed_builtin_starters() if m.slug == "fullstack-sample")


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple]:
    """Groups the code asked the task backend to execute; the tests execute them themselves."""
    calls: list[tuple] = []
    monkeypatch.setattr(
        runs.tasks, "lane_group_execute_task", SimpleNamespace(enqueue=lambda *a: calls.append(a))
    )
    return calls
