"""Screenshots are served to their session's owner, and to the holders of a share link that
shows that session: nobody else (another user, a logged-out visitor, another share's holder,
a revoked share's holder) gets the file. The screenshot browser's grant opens only its owner's
preview, and only for a short while."""

from __future__ import annotations

import os
import time

import pytest
from asgiref.sync import async_to_sync
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from comparisons import shares
from sandboxes import grants
from sandboxes.models import Preview, SandboxSession, Screenshot

from ..comparisons.test_shares import (
    comparison,  # noqa: F401 - fixture
    make_version,
    open_share,
    share_for,
    share_url,
)
from ..conftest import login

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00\x00\x05\x00\x00\x00\x03\x20" + b"rest"


def screenshot_of(session: SandboxSession, preview: Preview | None = None) -> Screenshot:
    shot = Screenshot(session=session, preview=preview, width=1280, height=800)
    shot.image.save(f"s{session.pk}.png", ContentFile(PNG), save=True)
    return shot


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_owner_gets_the_png_and_bob_and_visitors_get_nothing(alice, bob, alice_session):
    shot = screenshot_of(alice_session)
    owner = login(Client(), alice)
    response = owner.get(shot.get_absolute_url())
    assert response.status_code == 200 and body(response) == PNG
    assert response["Content-Type"] == "image/png"
    assert login(Client(), bob).get(shot.get_absolute_url()).status_code == 404
    assert Client().get(shot.get_absolute_url()).status_code == 302  # to the login page


def test_a_share_holder_sees_the_shared_versions_thumbnails_only(
    client,
    comparison,  # noqa: F811
    alice,
):
    bold = comparison.versions.get(label="Bold")
    shot = screenshot_of(bold.session, bold.preview)
    elsewhere = screenshot_of(
        SandboxSession.objects.create(owner=alice, name="not shared", status="running")
    )
    share = share_for(comparison)
    page = open_share(client, share_url(share)).content.decode()

    url = reverse("share_screenshot", args=[share.pk, shot.pk])
    assert url in page  # the card shows the thumbnail
    assert f'"{shot.get_absolute_url()}"' not in page  # never the owner's URL
    assert body(client.get(url)) == PNG
    # A screenshot of a sandbox the share does not show: nothing, even for its holder.
    assert client.get(reverse("share_screenshot", args=[share.pk, elsewhere.pk])).status_code == 404
    # Without the link's cookie, or with another share's: nothing.
    assert Client().get(url).status_code == 404
    other = share_for(comparison.versions.get(label="Calm").preview)
    other_holder = Client()
    open_share(other_holder, share_url(other))
    assert other_holder.get(url).status_code == 404
    assert (
        other_holder.get(reverse("share_screenshot", args=[other.pk, shot.pk])).status_code == 404
    )


def test_a_revoked_share_stops_serving_its_thumbnails(client, comparison):  # noqa: F811
    bold = comparison.versions.get(label="Bold")
    shot = screenshot_of(bold.session, bold.preview)
    share = share_for(comparison)
    open_share(client, share_url(share))
    url = reverse("share_screenshot", args=[share.pk, shot.pk])
    assert client.get(url).status_code == 200
    shares.share_revoke(share=share)
    assert client.get(url).status_code == 404


def test_a_screenshot_grant_opens_only_its_owners_preview_and_expires(
    comparison,  # noqa: F811
    bob,
):
    preview = Preview.objects.select_related("session").get(
        pk=comparison.versions.get(label="Bold").preview_id
    )
    grant = grants.grant_for_screenshot(preview)
    allows = async_to_sync(grants.grant_allows)
    assert allows(grant, preview.pk) == preview

    stale = grant | {"x": grant["x"] | {"exp": int(time.time()) - 1}}
    assert allows(stale, preview.pk) is None
    bobs = grant | {"x": grant["x"] | {"u": bob.pk}}
    assert allows(bobs, preview.pk) is None
    other = make_version(
        comparison, "Other", preview_status=Preview.Status.READY, summary="", position=2
    ).preview
    assert allows(grant, other.pk) is None
    preview.session.owner.is_active = False
    preview.session.owner.save()
    assert allows(grant, preview.pk) is None


def test_deleting_a_sandbox_removes_its_screenshot_files(alice_session):
    shot = screenshot_of(alice_session)
    path = shot.image.path
    with open(path, "rb") as file:
        assert file.read() == PNG
    alice_session.delete()
    assert not Screenshot.objects.exists()
    assert not os.path.exists(path)
