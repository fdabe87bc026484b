"""Snapshots: a share link keeps a production build of each shared app, served on the preview's
own origin once its sandbox stops, and deleted with the link (tests/fakes/snapshots.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.core.files.storage import storages
from django.urls import reverse
from django.utils import timezone

from comparisons import services as services_of_comparisons
from comparisons import shares, snapshots
from comparisons.access import grant_for_share
from comparisons.models import Comparison, Snapshot, Version
from runs.models import Run
from sandboxes import services
from sandboxes.models import Preview, SandboxSession, Screenshot

from ..conftest import alogin, login
from ..fakes.proxy import client, cookie_for, get, preview_host, ws_communicator
from ..fakes.snapshots import ASSET, INDEX, share_of, stored_names

pytestmark = pytest.mark.django_db(transaction=True)


async def moved_on(version, owner, summary: str = "Refined.") -> None:
    """Another turn finished in the version's sandbox: its snapshot is out of date."""
    await Run.objects.acreate(
        owner=owner,
        session_id=version.session_id,
        config={"name": "Builder", "model": "demo"},
        prompt="Refine it",
        status=Run.Status.SUCCEEDED,
        final_output=summary,
        finished_at=timezone.now(),
    )


async def built(version, owner, queued) -> tuple:
    share = await share_of(version, owner)
    assert len(queued) == 1  # one snapshot per shared preview, queued, not built in the request
    await snapshots.snapshot_build(snapshot_id=queued[0])
    snapshot = await Snapshot.objects.aget(pk=queued[0])
    return share, snapshot


async def share_cookie(app, preview: Preview, share) -> str:
    return await cookie_for(app, preview, grant_for_share(preview, share))


# --- building -------------------------------------------------------------------------------------


async def test_sharing_builds_the_app_and_stores_its_files_with_the_summary(
    shared_version, alice, queued
):
    share, snapshot = await built(shared_version, alice, queued)

    assert snapshot.status == Snapshot.Status.READY, (snapshot.error, snapshot.log)
    assert snapshot.share_id == share.pk and snapshot.preview_id == shared_version.preview_id
    assert set(snapshot.files) == {"index.html", ASSET, "style.css", "about/index.html"}
    # The link leading out of the workspace was not copied; nor anything else but regular files.
    assert "leak.txt" not in snapshot.files
    assert snapshot.size == sum(snapshot.files.values()) == len(INDEX) + 23 + 15 + 14
    assert snapshot.summary == "Built a static site with an about page."
    assert "echo built" in snapshot.log and "built" in snapshot.log.splitlines()[-1]
    names = await sync_to_async(stored_names)()
    assert names == sorted(snapshot.site_prefix + name for name in snapshot.files)
    with storages["snapshots"].open(snapshot.site_prefix + "index.html") as handle:
        assert handle.read().decode() == INDEX


async def test_a_screenshot_of_the_running_app_is_kept_beside_it(
    shared_version, alice, queued, settings
):
    settings.SHARE_SNAPSHOT_SCREENSHOTS = True
    _, snapshot = await built(shared_version, alice, queued)
    shot = await Screenshot.objects.aget(pk=snapshot.screenshot_id)
    assert (shot.width, shot.height) == (1280, 800)
    assert shot.preview_id == shared_version.preview_id
    assert (await sync_to_async(shot.image.read)()).startswith(b"\x89PNG")


async def test_the_versions_own_fresh_screenshot_is_kept_rather_than_a_new_one(
    shared_version, alice, queued, settings
):
    settings.SHARE_SNAPSHOT_SCREENSHOTS = True
    ready = await Screenshot.objects.acreate(
        session_id=shared_version.session_id,
        preview_id=shared_version.preview_id,
        image="screenshots/ready.png",
        width=1280,
        height=800,
    )
    _, snapshot = await built(shared_version, alice, queued)
    assert snapshot.screenshot_id == ready.pk
    assert await Screenshot.objects.acount() == 1  # no second chromium run


async def test_a_build_over_the_size_limit_is_refused_with_its_size(
    shared_version, alice, queued, settings
):
    settings.SHARE_SNAPSHOT_SIZE_LIMIT = 100
    _, snapshot = await built(shared_version, alice, queued)

    assert snapshot.status == Snapshot.Status.FAILED
    assert "a snapshot holds at most 100 bytes (SHARE_SNAPSHOT_SIZE_LIMIT)" in snapshot.error
    assert snapshot.error.startswith("The build is ")
    assert not snapshot.has_site and await sync_to_async(stored_names)() == []


async def test_a_failing_build_keeps_its_log_and_the_owner_sees_why(
    shared_version, alice, queued, site_manifest, client
):
    site_manifest.build_command = "echo compiling; echo 'error: no such module' >&2; exit 2"
    await site_manifest.asave()
    _share, snapshot = await built(shared_version, alice, queued)

    assert snapshot.status == Snapshot.Status.FAILED
    assert snapshot.error == "The build command exited with code 2; see its log."
    assert "error: no such module" in snapshot.log
    await sync_to_async(login)(client, alice)
    page = await sync_to_async(client.get)(
        reverse("comparison_detail", args=[shared_version.comparison_id])
    )
    html = page.content.decode()
    assert 'data-testid="snapshot-error"' in html and "exited with code 2" in html
    assert "error: no such module" in html


async def test_a_build_with_no_output_folder_says_so(shared_version, alice, queued, site_manifest):
    site_manifest.build_command = "echo nothing to do"
    await site_manifest.asave()
    _, snapshot = await built(shared_version, alice, queued)
    assert snapshot.status == Snapshot.Status.FAILED
    assert snapshot.error == "The build wrote no “out/” folder in the workspace."


async def test_the_output_folder_must_stay_inside_the_workspace(
    shared_version, alice, queued, site_manifest
):
    site_manifest.build_command = "ln -s / out"
    await site_manifest.asave()
    _, snapshot = await built(shared_version, alice, queued)
    assert snapshot.status == Snapshot.Status.FAILED
    assert "leads outside the workspace" in snapshot.error
    assert await sync_to_async(stored_names)() == []


async def test_a_version_that_gets_ready_after_the_share_is_snapshotted_then(
    shared_version, alice, queued
):
    preview_id = shared_version.preview_id
    await Version.objects.filter(pk=shared_version.pk).aupdate(
        preview=None, stage=Version.Stage.PREVIEW
    )
    share = await share_of(shared_version, alice)
    assert queued == [] and share.pinned[0]["version"] == shared_version.pk

    version = await Version.objects.aget(pk=shared_version.pk)
    version.preview_id = preview_id
    await version.asave()
    version = await Version.objects.select_related("preview").aget(pk=version.pk)
    assert (
        await sync_to_async(services_of_comparisons.version_snapshots_request)(version=version) == 1
    )
    assert len(queued) == 1
    await snapshots.snapshot_build(snapshot_id=queued[0])
    assert (await Snapshot.objects.aget(pk=queued[0])).has_site
    # Once is enough: a second call finds it.
    assert (
        await sync_to_async(services_of_comparisons.version_snapshots_request)(version=version) == 0
    )


# --- serving --------------------------------------------------------------------------------------


async def test_live_while_the_sandbox_runs_then_the_snapshot_once_it_is_shut_down(
    app, shared_version, alice, queued
):
    share, _snapshot = await built(shared_version, alice, queued)
    preview = await Preview.objects.aget(pk=shared_version.preview_id)
    cookie = await share_cookie(app, preview, share)

    live = await get(app, preview, "/", cookie)
    assert live.status_code == 200 and live.json()["path"] == "/"  # the dev server answered

    session = await SandboxSession.objects.aget(pk=shared_version.session_id)
    await services.session_shutdown(session=session)
    await asyncio.sleep(2.1)  # the proxy's access cache
    page = await get(app, preview, "/", cookie)
    assert page.status_code == 200
    assert page.text == INDEX
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "private, no-cache"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "x-frame-options" not in page.headers

    asset = await get(app, preview, f"/{ASSET}", cookie)
    assert asset.text == 'console.log("snapshot")'
    assert asset.headers["content-type"] == "text/javascript; charset=utf-8"
    assert asset.headers["cache-control"] == "private, max-age=31536000, immutable"
    css = await get(app, preview, "/style.css", cookie)
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert (await get(app, preview, "/about/", cookie)).text == "<h1>About</h1>"
    assert (await get(app, preview, "/about", cookie)).text == "<h1>About</h1>"

    # A single-page app's routes are the app's: index.html. A missing asset stays a 404.
    route = await get(app, preview, "/pricing/annual?plan=pro", cookie)
    assert route.status_code == 200 and route.text == INDEX
    missing = await get(app, preview, "/assets/gone-0000.js", cookie)
    assert missing.status_code == 404 and INDEX not in missing.text
    assert (await get(app, preview, "/leak.txt", cookie)).status_code == 404

    # Revalidation: the same file answers 304 to its ETag.
    async with client(app, preview_host(preview)) as c:
        again = await c.get("/", headers={"cookie": cookie, "if-none-match": page.headers["etag"]})
    assert again.status_code == 304 and again.content == b""

    # Nothing but reading: no other method, no websocket (no HMR to talk to).
    async with client(app, preview_host(preview)) as c:
        posted = await c.post("/", headers={"cookie": cookie}, content=b"x")
    assert posted.status_code == 405
    socket = ws_communicator(app, preview, cookie)
    connected, _ = await socket.connect()
    assert connected
    closed = await socket.receive_output()
    assert closed == {"type": "websocket.close", "code": 4403}


async def test_a_viewer_without_the_share_gets_no_snapshot(app, shared_version, alice, queued):
    await built(shared_version, alice, queued)
    preview = await Preview.objects.aget(pk=shared_version.preview_id)
    await Preview.objects.filter(pk=preview.pk).aupdate(status=Preview.Status.STOPPED)
    response = await get(app, preview, "/")
    assert response.status_code == 403 and INDEX not in response.text


async def test_the_owner_sees_the_offline_page_not_the_share_snapshot(
    app, shared_version, alice, queued
):
    """Snapshots belong to the share's viewers; the owner's own grant shows the sandbox."""
    from ..fakes.proxy import owner_cookie

    await built(shared_version, alice, queued)
    preview = await Preview.objects.aget(pk=shared_version.preview_id)
    cookie = await owner_cookie(app, preview, alice)
    await Preview.objects.filter(pk=preview.pk).aupdate(status=Preview.Status.STOPPED)
    response = await get(app, preview, "/", cookie)
    assert response.status_code == 503 and INDEX not in response.text


async def test_revoking_deletes_the_snapshot_and_shuts_its_origin_at_once(
    app, shared_version, alice, queued
):
    share, snapshot = await built(shared_version, alice, queued)
    preview = await Preview.objects.aget(pk=shared_version.preview_id)
    cookie = await share_cookie(app, preview, share)
    await Preview.objects.filter(pk=preview.pk).aupdate(status=Preview.Status.STOPPED)
    await asyncio.sleep(2.1)
    assert (await get(app, preview, "/", cookie)).text == INDEX

    await sync_to_async(shares.share_revoke)(share=share)
    await asyncio.sleep(2.1)
    refused = await get(app, preview, "/", cookie)
    assert refused.status_code == 403 and INDEX not in refused.text
    assert not await Snapshot.objects.filter(pk=snapshot.pk).aexists()
    assert await sync_to_async(stored_names)() == []
    # No folder is left behind either.
    location = Path(storages["snapshots"].location)
    assert list(location.iterdir()) == []


async def test_an_expired_link_serves_no_snapshot(app, shared_version, alice, queued):
    share, _ = await built(shared_version, alice, queued)
    preview = await Preview.objects.aget(pk=shared_version.preview_id)
    cookie = await share_cookie(app, preview, share)
    await Preview.objects.filter(pk=preview.pk).aupdate(status=Preview.Status.STOPPED)
    await type(share).objects.filter(pk=share.pk).aupdate(expires_at=timezone.now())
    await asyncio.sleep(2.1)
    assert (await get(app, preview, "/", cookie)).status_code == 403


# --- owner controls and deletion ------------------------------------------------------------------


async def test_refresh_rebuilds_and_replaces_the_old_files(
    shared_version, alice, queued, site_manifest, client
):
    share, first = await built(shared_version, alice, queued)
    site_manifest.build_command = (
        "rm -rf out && mkdir out && printf '<p>second</p>' > out/index.html"
    )
    await site_manifest.asave()

    await sync_to_async(login)(client, alice)
    response = await sync_to_async(client.post)(
        reverse("share_snapshots", args=[share.pk]), headers={"hx-request": "true"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Refreshing" in html and 'data-status="building"' in html
    assert 'hx-trigger="every 2s"' in html  # the row polls while it builds
    assert queued == [first.pk, first.pk]
    await snapshots.snapshot_build(snapshot_id=first.pk)

    second = await Snapshot.objects.aget(pk=first.pk)
    assert second.status == Snapshot.Status.READY and second.files == {"index.html": 13}
    assert second.site_prefix != first.site_prefix
    assert await sync_to_async(stored_names)() == [second.site_prefix + "index.html"]
    panel = await sync_to_async(client.get)(reverse("share_snapshots", args=[share.pk]))
    assert 'data-testid="snapshot-size"' in panel.content.decode()
    assert "13\xa0bytes, 1 file" in panel.content.decode()


async def test_a_failed_refresh_keeps_serving_the_last_good_snapshot(
    app, shared_version, alice, queued, site_manifest
):
    share, first = await built(shared_version, alice, queued)
    site_manifest.build_command = "exit 1"
    await site_manifest.asave()
    preview = await Preview.objects.aget(pk=shared_version.preview_id)
    await sync_to_async(snapshots.snapshot_request)(share=share, preview=preview)
    await snapshots.snapshot_build(snapshot_id=first.pk)
    snapshot = await Snapshot.objects.aget(pk=first.pk)
    assert snapshot.status == Snapshot.Status.FAILED and snapshot.has_site

    preview = await Preview.objects.aget(pk=shared_version.preview_id)
    cookie = await share_cookie(app, preview, share)
    await Preview.objects.filter(pk=preview.pk).aupdate(status=Preview.Status.STOPPED)
    await asyncio.sleep(2.1)
    assert (await get(app, preview, "/", cookie)).text == INDEX


async def test_another_user_cannot_see_or_refresh_a_snapshot(
    shared_version, alice, bob, queued, client
):
    share, _ = await built(shared_version, alice, queued)
    await sync_to_async(login)(client, bob)
    url = reverse("share_snapshots", args=[share.pk])
    assert (await sync_to_async(client.get)(url)).status_code == 404
    assert (await sync_to_async(client.post)(url)).status_code == 404
    assert queued == [queued[0]]  # nothing was queued for bob


async def test_snapshots_are_deleted_with_their_comparison(shared_version, alice, queued):
    _, _snapshot = await built(shared_version, alice, queued)
    assert await sync_to_async(stored_names)()
    await (await Comparison.objects.aget(pk=shared_version.comparison_id)).adelete()
    assert not await Snapshot.objects.aexists()
    assert await sync_to_async(stored_names)() == []


async def test_snapshots_of_expired_links_are_reaped(shared_version, alice, queued):
    share, _ = await built(shared_version, alice, queued)
    assert await snapshots.reap_expired_snapshots() == 0
    await type(share).objects.filter(pk=share.pk).aupdate(expires_at=timezone.now())
    assert await snapshots.reap_expired_snapshots() == 1
    assert not await Snapshot.objects.aexists()
    assert await sync_to_async(stored_names)() == []


# --- sandboxes that stop --------------------------------------------------------------------------


async def test_shutting_down_a_shared_sandbox_snapshots_it_first(
    shared_version, alice, queued, site_manifest
):
    _share, first = await built(shared_version, alice, queued)
    site_manifest.build_command = "mkdir -p out && printf '<p>after a refine</p>' > out/index.html"
    await site_manifest.asave()
    await moved_on(shared_version, alice)
    session = await SandboxSession.objects.aget(pk=shared_version.session_id)
    assert await snapshots.session_snapshots_pending(session) == (
        "its 1 shared preview are snapshotted"
    )

    await services.session_shutdown(session=session)

    snapshot = await Snapshot.objects.aget(pk=first.pk)
    assert snapshot.status == Snapshot.Status.READY
    assert snapshot.summary == "Refined."
    with storages["snapshots"].open(snapshot.site_prefix + "index.html") as handle:
        assert handle.read() == b"<p>after a refine</p>"
    await session.arefresh_from_db()
    assert session.status == SandboxSession.Status.STOPPED


async def test_a_sandbox_nobody_shares_stops_at_once(site_session):
    assert await snapshots.session_snapshots_pending(site_session) is None


async def test_the_shutdown_button_stops_in_the_background_when_snapshots_are_due(
    shared_version, alice, queued, async_client, tasks_here
):
    """The request answers at once; the snapshot is built, then the sandbox shuts down."""
    share, first = await built(shared_version, alice, queued)
    await moved_on(shared_version, alice, "Second turn.")
    await alogin(async_client, alice)
    session = await SandboxSession.objects.aget(pk=shared_version.session_id)

    response = await async_client.post(reverse("session_shutdown", args=[session.pk]), follow=True)
    assert "shuts down once its 1 shared preview are snapshotted" in response.content.decode()

    for _ in range(200):
        await session.arefresh_from_db()
        if session.status == SandboxSession.Status.STOPPED:
            break
        await asyncio.sleep(0.05)
    assert session.status == SandboxSession.Status.STOPPED, session.last_error
    snapshot = await Snapshot.objects.aget(share=share)
    assert snapshot.status == Snapshot.Status.READY and snapshot.summary == "Second turn."
    assert snapshot.built_at > first.built_at


async def test_pausing_a_shared_sandbox_snapshots_it_first(shared_version, alice, queued):
    share, _ = await built(shared_version, alice, queued)
    await moved_on(shared_version, alice, "Paused after this.")
    session = await SandboxSession.objects.aget(pk=shared_version.session_id)
    await services.session_pause(session=session)
    snapshot = await Snapshot.objects.aget(share=share)
    assert snapshot.status == Snapshot.Status.READY, snapshot.error
    assert snapshot.summary == "Paused after this."
    await session.arefresh_from_db()
    assert session.status == SandboxSession.Status.PAUSED


async def test_a_sandbox_past_its_providers_timeout_shows_the_snapshot(
    app, shared_version, alice, queued
):
    """An expired E2B sandbox answers its URL with E2B's own 502 page: never passed through."""
    share, _ = await built(shared_version, alice, queued)
    preview = await Preview.objects.aget(pk=shared_version.preview_id)
    cookie = await share_cookie(app, preview, share)
    await SandboxSession.objects.filter(pk=shared_version.session_id).aupdate(
        timeout_at=timezone.now()
    )
    await asyncio.sleep(2.1)
    page = await get(app, preview, "/", cookie)
    assert page.status_code == 200 and page.text == INDEX
