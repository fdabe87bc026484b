"""Item 4: the preview's cookie lasts a while, not forever, and only while its user may see it.

The owner opens her preview the way the page does it (the iframe's URL, its fragment posted to
the preview host); then the cookie must stop working once it is older than its lifetime, once
her account is deactivated, and once she logs out.
"""

from __future__ import annotations

import re
import time
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from sandboxes import proxy
from sandboxes.models import Preview, SandboxSession

from ..conftest import alogin
from ..fakes.proxy import enter, get

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_access_cache(monkeypatch):
    # The proxy remembers an access decision for 2 s; these tests look at the next request.
    monkeypatch.setattr(proxy, "ACCESS_CACHE_SECONDS", 0)


@pytest.fixture
async def preview(alice, upstream):
    session = await SandboxSession.objects.acreate(
        owner=alice, name="s", backend="docker", status=SandboxSession.Status.RUNNING
    )
    return await Preview.objects.acreate(
        session=session, status=Preview.Status.READY, upstream_url=upstream.url
    )


async def page_grant(client, preview) -> str:
    """The grant in the preview page's iframe, as alice's browser gets it."""
    page = (await client.get(reverse("preview_detail", args=[preview.pk]))).content.decode()
    src = re.search(r'<iframe src="([^"]+)"', page)[1].replace("&amp;", "&")
    return parse_qs(urlsplit(src).fragment)["grant"][0]


async def enter_cookie(app, preview, grant: str) -> tuple[str, str]:
    response = await enter(app, preview, grant)
    assert response.status_code == 303, response.text
    set_cookie = response.headers["set-cookie"]
    return set_cookie.split(";")[0], set_cookie


async def test_the_cookie_has_a_lifetime_and_an_older_one_is_refused(
    app, preview, alice, async_client, settings
):
    await alogin(async_client, alice)
    grant = await page_grant(async_client, preview)

    cookie, set_cookie = await enter_cookie(app, preview, grant)
    assert f"Max-Age={settings.PREVIEW_COOKIE_SECONDS}" in set_cookie
    assert (await get(app, preview, "/", cookie)).status_code == 200

    # The same cookie, made longer ago than its lifetime (the grant itself is fresh).
    issued = time.time() - settings.PREVIEW_COOKIE_SECONDS - 60
    with mock.patch("django.core.signing.time.time", return_value=issued):
        old_cookie, _ = await enter_cookie(app, preview, grant)
    assert (await get(app, preview, "/", old_cookie)).status_code == 403


async def test_a_deactivated_user_is_shut_out_at_once(app, preview, alice, async_client):
    await alogin(async_client, alice)
    cookie, _ = await enter_cookie(app, preview, await page_grant(async_client, preview))
    assert (await get(app, preview, "/", cookie)).status_code == 200

    await get_user_model().objects.filter(pk=alice.pk).aupdate(is_active=False)

    assert (await get(app, preview, "/", cookie)).status_code == 403


async def test_logging_out_ends_the_preview_cookie(app, preview, alice, async_client, upstream):
    await alogin(async_client, alice)
    cookie, _ = await enter_cookie(app, preview, await page_grant(async_client, preview))
    assert (await get(app, preview, "/", cookie)).status_code == 200
    seen = len(upstream.seen)

    assert (await async_client.post(reverse("logout"))).status_code == 302

    assert (await get(app, preview, "/", cookie)).status_code == 403
    assert len(upstream.seen) == seen  # nothing more reached the dev server


async def test_a_grant_from_a_session_that_ended_does_not_open_the_preview(
    app, preview, alice, async_client
):
    await alogin(async_client, alice)
    grant = await page_grant(async_client, preview)
    await async_client.post(reverse("logout"))

    response = await enter(app, preview, grant)

    assert response.status_code == 403
    assert "set-cookie" not in response.headers
