"""A shared app whose production build is quick: what the snapshot tests share.

`site_manifest` declares its own build command (a shell script, no npm) and output folder
(`out/`): an index.html, a hashed asset, a stylesheet, a nested page, and a link leading out
of the workspace that a snapshot must never keep. `shared_version` is a version of a
comparison on the real local backend with a preview answered by the fake upstream
(tests/fakes/proxy.py), so the live app and the snapshot can be told apart.
"""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.core.files.storage import storages
from django.utils import timezone

import comparisons.tasks
from comparisons import shares
from comparisons.models import Comparison, ShareLink, Version
from runs.models import Run
from sandboxes.models import Manifest, ManifestEntry, Preview

INDEX = "<!doctype html><title>Snapshot app</title><div id=app>Kept after the sandbox</div>"
ASSET = "assets/app-1a2b3c4d.js"
BUILD_COMMAND = (
    "mkdir -p out/assets out/about && "
    f"printf '%s' '{INDEX}' > out/index.html && "
    f"printf 'console.log(\"snapshot\")' > out/{ASSET} && "
    "printf 'body{color:red}' > out/style.css && "
    "printf '<h1>About</h1>' > out/about/index.html && "
    "ln -sf /etc/hostname out/leak.txt && echo built"
)


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Snapshot builds the code under test queued (the test runs them itself)."""
    ids: list[int] = []
    monkeypatch.setattr(
        comparisons.tasks,
        "snapshot_build_task",
        SimpleNamespace(enqueue=ids.append, queue_name="default"),
    )
    return ids


@pytest.fixture
def site_manifest(alice):
    manifest = Manifest.objects.create(
        owner=alice, name="Static site", build_command=BUILD_COMMAND, build_output="out"
    )
    ManifestEntry.objects.create(manifest=manifest, path="README.md", content="A site.\n")
    return manifest


@pytest.fixture
async def site_session(alice, site_manifest):
    from ..conftest import start_local_session

    session = await start_local_session(alice, site_manifest)
    yield session
    await session.arefresh_from_db()
    if session.workspace_root:
        await sync_to_async(shutil.rmtree)(session.workspace_root, ignore_errors=True)


@pytest.fixture
async def shared_version(alice, site_manifest, site_session, upstream):
    comparison = await Comparison.objects.acreate(
        owner=alice, title="Static ideas", manifest=site_manifest, config={"model": "demo"}
    )
    run = await Run.objects.acreate(
        owner=alice,
        session=site_session,
        config={"name": "Builder", "model": "demo"},
        prompt="Make a site",
        status=Run.Status.SUCCEEDED,
        final_output="Built a static site with an about page.",
        finished_at=timezone.now(),
    )
    preview = await Preview.objects.acreate(
        session=site_session, status=Preview.Status.READY, upstream_url=upstream.url
    )
    return await Version.objects.acreate(
        comparison=comparison,
        label="Static",
        prompt="Make a site",
        session=site_session,
        run=run,
        preview=preview,
        stage=Version.Stage.READY,
    )


async def share_of(version: Version, owner) -> ShareLink:
    from datetime import timedelta

    comparison = await Comparison.objects.aget(pk=version.comparison_id)
    return await sync_to_async(shares.share_create)(
        owner=owner, comparison=comparison, expires_in=timedelta(hours=1)
    )


def stored_names(prefix: str = "") -> list[str]:
    """Every file in the snapshots storage (under `prefix`), walked through the storage."""
    storage = storages["snapshots"]
    found = []

    def walk(path: str) -> None:
        try:
            dirs, files = storage.listdir(path)
        except FileNotFoundError:
            return
        found.extend(f"{path}{name}" for name in files)
        for name in dirs:
            walk(f"{path}{name}/")

    walk(prefix)
    return sorted(found)
