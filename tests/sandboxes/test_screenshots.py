"""Screenshots of a real Vite preview, taken by Debian's chromium through the preview proxy."""

from __future__ import annotations

from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from lib.images import png_size
from sandboxes.models import Preview, Screenshot
from sandboxes.screenshots import ScreenshotFailed, screenshot_take
from tests.conftest import alogin
from tests.fakes.previews import wait_for_status
from tests.images import distinct_colours

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def vite_preview(local_session, supervisor):
    preview = await Preview.objects.acreate(session=local_session, command=Preview.DEFAULT_COMMAND)
    supervisor(preview)
    return await wait_for_status(preview, Preview.Status.READY, seconds=240)


async def test_a_vite_preview_is_photographed_at_the_viewport_through_the_proxy(
    vite_preview, local_session, alice
):
    shot = await screenshot_take(session=local_session, viewport=(1024, 640))

    png = await sync_to_async(lambda: shot.image.read())()
    assert png_size(png) == (1024, 640) == (shot.width, shot.height)
    # The starter's page painted (text, colours), not a blank or an error page.
    assert distinct_colours(png) > 20
    assert shot.preview_id == vite_preview.pk and shot.session_id == local_session.pk
    # The owner fetches it; another user gets nothing.
    owner = await alogin(AsyncClient(), alice)
    response = await owner.get(shot.get_absolute_url())
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == png
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "screenshot-vite-preview.png").write_bytes(png)


async def test_another_user_cannot_fetch_a_screenshot(vite_preview, local_session, bob):
    shot = await screenshot_take(session=local_session)
    outsider = await alogin(AsyncClient(), bob)
    assert (await outsider.get(shot.get_absolute_url())).status_code == 404
    assert (await AsyncClient().get(shot.get_absolute_url())).status_code == 302  # to login


async def test_a_session_without_a_ready_preview_gets_a_clear_refusal(local_session):
    with pytest.raises(ScreenshotFailed, match="no running preview"):
        await screenshot_take(session=local_session)
    assert not await Screenshot.objects.aexists()


async def test_the_preview_page_takes_and_lists_screenshots_for_its_owner_only(
    vite_preview, alice, bob
):
    url = f"/previews/{vite_preview.pk}/screenshot/"
    outsider = await alogin(AsyncClient(), bob)
    assert (await outsider.post(url)).status_code == 404
    assert not await Screenshot.objects.aexists()

    owner = await alogin(AsyncClient(), alice)
    response = await owner.post(url)
    assert response.status_code == 302
    shot = await Screenshot.objects.aget(preview=vite_preview)
    assert (shot.width, shot.height) == (1280, 800)
    page = (await owner.get(f"/previews/{vite_preview.pk}/")).content.decode()
    assert f'src="{shot.get_absolute_url()}"' in page
    assert "1280\u00d7800" in page


async def test_a_viewport_out_of_range_is_refused(vite_preview, local_session):
    with pytest.raises(ScreenshotFailed, match="200 to 4000"):
        await screenshot_take(session=local_session, viewport=(100, 10_000))
