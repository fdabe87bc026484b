"""Share grants at the preview proxy: a share link's grant opens the previews it shares, and
only while the link is valid (tests/fakes/proxy.py drives the proxy)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from comparisons import shares
from comparisons.access import grant_for_share
from comparisons.models import Comparison, Version
from sandboxes import proxy
from sandboxes.models import Preview

from ..fakes.proxy import cookie_for, enter, get, make_preview, ws_communicator

pytestmark = pytest.mark.django_db(transaction=True)


async def share_preview(owner, preview: Preview, hours: int = 1):
    return await sync_to_async(shares.share_create)(
        owner=owner, preview=preview, expires_in=timedelta(hours=hours)
    )


async def test_a_share_grant_works_until_the_share_is_revoked(
    app, preview, alice, upstream, monkeypatch
):
    monkeypatch.setattr(proxy, "ACCESS_CACHE_SECONDS", 0)
    share = await share_preview(alice, preview)
    grant = grant_for_share(preview, share)
    cookie = await cookie_for(app, preview, grant)
    assert (await get(app, preview, "/", cookie)).status_code == 200

    await sync_to_async(shares.share_revoke)(share=share)

    assert (await get(app, preview, "/", cookie)).status_code == 403
    assert (await enter(app, preview, grant)).status_code == 403
    communicator = ws_communicator(app, preview, cookie)
    await communicator.connect(timeout=5)
    assert (await communicator.receive_output(timeout=5))["code"] == proxy.CLOSE_REFUSED
    assert len(upstream.seen) == 1


async def test_access_is_cached_only_briefly(app, preview, alice, upstream, monkeypatch):
    share = await share_preview(alice, preview)
    cookie = await cookie_for(app, preview, grant_for_share(preview, share))
    assert (await get(app, preview, "/", cookie)).status_code == 200
    await sync_to_async(shares.share_revoke)(share=share)

    assert (await get(app, preview, "/", cookie)).status_code == 200  # within the cache time
    monkeypatch.setattr(proxy, "ACCESS_CACHE_SECONDS", 0)
    assert (await get(app, preview, "/", cookie)).status_code == 403


async def test_an_expired_share_grant_is_refused(app, preview, alice):
    share = await share_preview(alice, preview)
    share.expires_at = timezone.now() - timedelta(seconds=1)
    await share.asave()
    assert (await enter(app, preview, grant_for_share(preview, share))).status_code == 403


async def test_a_comparison_share_opens_only_that_comparisons_previews(
    app, preview, alice, upstream, starter
):
    other = await make_preview(alice, upstream.url)
    comparison = await Comparison.objects.acreate(owner=alice, title="c", manifest=starter)
    await Version.objects.acreate(comparison=comparison, label="A", prompt="p", preview=preview)
    share = await sync_to_async(shares.share_create)(
        owner=alice, comparison=comparison, expires_in=timedelta(hours=1)
    )

    cookie = await cookie_for(app, preview, grant_for_share(preview, share))
    assert (await get(app, preview, "/", cookie)).status_code == 200
    assert (await enter(app, other, grant_for_share(other, share))).status_code == 403


async def test_a_share_of_one_preview_does_not_open_another(app, preview, alice, upstream):
    other = await make_preview(alice, upstream.url)
    share = await share_preview(alice, preview)
    assert (await enter(app, other, grant_for_share(other, share))).status_code == 403
