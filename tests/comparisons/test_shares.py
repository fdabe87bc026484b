"""Share links: created and revoked by their owner, opened by anyone while they are valid."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from comparisons import shares
from comparisons.models import Comparison, ShareLink, Version
from runs.models import Run
from sandboxes import grants, proxy
from sandboxes.models import Preview, SandboxSession

from ..conftest import login
from ..fakes.proxy import login_session_key

pytestmark = pytest.mark.django_db

WORKSPACE = "/tmp/sandbox-workspace-3f9a1c"


def make_version(comparison, label, *, preview_status, summary, position):
    owner = comparison.owner
    session = SandboxSession.objects.create(
        owner=owner,
        manifest=comparison.manifest,
        name=f"{comparison.title}: {label}",
        status=SandboxSession.Status.RUNNING,
        sdk_state={"type": "unix_local", "manifest": {"root": f"{WORKSPACE}-{label}"}},
    )
    run = Run.objects.create(
        owner=owner,
        session=session,
        config={"name": "Builder", "model": "demo"},
        prompt=f"Make it {label.lower()}",
        status=Run.Status.SUCCEEDED,
        final_output=summary,
    )
    preview = Preview.objects.create(
        session=session,
        status=preview_status,
        upstream_url="http://127.0.0.1:9/" if preview_status == Preview.Status.READY else "",
        pid=4242,
    )
    return Version.objects.create(
        comparison=comparison,
        label=label,
        prompt=f"Make it {label.lower()}",
        position=position,
        session=session,
        run=run,
        preview=preview,
        stage=Version.Stage.READY,
        files_changed=[{"path": "src/App.tsx", "change": "modified"}],
    )


@pytest.fixture
def comparison(alice, starter):
    comparison = Comparison.objects.create(
        owner=alice, title="Landing page ideas", manifest=starter, config={"model": "demo"}
    )
    make_version(
        comparison, "Bold", preview_status=Preview.Status.READY, summary="Bold hero.", position=0
    )
    make_version(
        comparison, "Calm", preview_status=Preview.Status.STOPPED, summary="Calm tones.", position=1
    )
    return comparison


def share_for(target, hours=1, **kwargs) -> ShareLink:
    key = "comparison" if isinstance(target, Comparison) else "preview"
    return shares.share_create(
        owner=target.owner if key == "comparison" else target.session.owner,
        expires_in=timedelta(hours=hours),
        **{key: target},
    )


def share_url(share: ShareLink) -> str:
    """The link as the owner copies it: the token in its fragment."""
    return f"{reverse('share_open')}#{shares.share_token(share)}"


def open_share(client, url: str):
    """What a browser does with a share link: its page posts the fragment, then follows."""
    token = url.split("#", 1)[1] if "#" in url else url
    return client.post(reverse("share_open"), {"token": token}, follow=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- tokens ------------------------------------------------------------------------------------


def test_a_token_is_the_id_and_a_mac_with_at_least_128_random_bits(comparison):
    share = share_for(comparison)
    token = shares.share_token(share)

    pk, mac = token.split(".")
    assert pk == str(share.pk)
    assert len(base64.urlsafe_b64decode(mac)) * 8 >= 128
    assert len(bytes.fromhex(share.salt)) * 8 >= 128
    assert re.fullmatch(r"[A-Za-z0-9_-]+", mac)  # safe in a URL path
    assert shares.share_token(share) == token  # the owner can copy it again


def test_tokens_differ_between_links_and_are_not_stored(comparison):
    first, second = share_for(comparison), share_for(comparison)
    first_mac = shares.share_token(first).split(".")[1]
    second_mac = shares.share_token(second).split(".")[1]

    assert first_mac != second_mac
    assert first.salt != second.salt
    stored = ShareLink.objects.filter(pk=first.pk).values().get()
    assert first_mac not in str(stored)


def test_a_token_depends_on_the_secret_key(client, comparison, settings):
    share = share_for(comparison)
    url = share_url(share)
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    assert open_share(client, url).status_code == 404


# --- creating ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"expiry": "1h"}, timedelta(hours=1)),
        ({"expiry": "24h"}, timedelta(hours=24)),
        ({"expiry": "7d"}, timedelta(days=7)),
        ({"expiry": "custom", "custom_hours": "5"}, timedelta(hours=5)),
    ],
)
def test_the_owner_creates_a_share_link_with_an_expiry(client, alice, comparison, data, expected):
    client.force_login(alice)
    before = timezone.now()

    response = client.post(reverse("share_create", args=["comparison", comparison.pk]), data)

    assert response.status_code == 302
    assert response.url == comparison.get_absolute_url()
    share = ShareLink.objects.get()
    assert (share.owner, share.comparison, share.preview) == (alice, comparison, None)
    assert before + expected <= share.expires_at <= timezone.now() + expected
    assert share.is_valid


def test_a_preview_can_be_shared_on_its_own(client, alice, comparison):
    client.force_login(alice)
    preview = comparison.versions.first().preview

    response = client.post(reverse("share_create", args=["preview", preview.pk]), {"expiry": "1h"})

    assert response.status_code == 302 and response.url == preview.get_absolute_url()
    share = ShareLink.objects.get()
    assert (share.preview, share.comparison) == (preview, None)


def test_a_custom_expiry_without_hours_is_a_clear_error_and_creates_nothing(
    client, alice, comparison
):
    client.force_login(alice)

    response = client.post(
        reverse("share_create", args=["comparison", comparison.pk]),
        {"expiry": "custom", "custom_hours": ""},
        follow=True,
    )

    assert ShareLink.objects.count() == 0
    assert response.status_code == 200
    assert any("No link created" in m and "number of hours" in m for m in messages_of(response)), (
        messages_of(response)
    )


def test_an_unknown_expiry_creates_nothing(client, alice, comparison):
    client.force_login(alice)
    response = client.post(
        reverse("share_create", args=["comparison", comparison.pk]), {"expiry": "forever"}
    )
    assert response.status_code == 302
    assert ShareLink.objects.count() == 0


def test_bob_cannot_share_alices_comparison_or_preview(client, bob, comparison):
    client.force_login(bob)
    preview = comparison.versions.first().preview

    for kind, pk in (("comparison", comparison.pk), ("preview", preview.pk)):
        response = client.post(reverse("share_create", args=[kind, pk]), {"expiry": "7d"})
        assert response.status_code == 404

    assert ShareLink.objects.count() == 0


def test_creating_a_share_requires_login(client, comparison):
    response = client.post(
        reverse("share_create", args=["comparison", comparison.pk]), {"expiry": "1h"}
    )
    assert response.status_code == 302 and "/login/" in response.url
    assert ShareLink.objects.count() == 0


# --- the public page ---------------------------------------------------------------------------


def version_cards(page: str) -> list[str]:
    return re.findall(r"<article.*?</article>", page, re.S)


def iframe_sources(page: str) -> list[str]:
    return [unescape(src) for src in re.findall(r'<iframe src="([^"]+)"', page)]


def test_the_public_page_works_logged_out_and_shows_the_versions(client, comparison):
    share = share_for(comparison)

    response = open_share(client, share_url(share))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Landing page ideas" in page
    for text in ("Bold", "Calm", "Make it bold", "Make it calm", "Bold hero.", "Calm tones."):
        assert text in page
    assert "src/App.tsx" in page
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_public_page_frames_ready_previews_on_their_own_origin_with_share_grants(
    client, comparison
):
    share = share_for(comparison)
    ready = comparison.versions.get(label="Bold").preview

    page = open_share(client, share_url(share)).content.decode()

    (src,) = iframe_sources(page)
    url = urlsplit(src)
    assert url.netloc == f"p{ready.pk}.preview.localhost"
    assert url.path == grants.ENTER_PATH
    grant = signing.loads(parse_qs(url.fragment)["grant"][0], salt=grants.GRANT_SALT)
    assert grant == {"p": ready.pk, "s": share.pk}  # a share grant, never the owner's


def test_the_public_page_has_no_secrets_or_controls(client, alice, comparison, settings):
    share = share_for(comparison)
    version = comparison.versions.get(label="Bold")
    owner_grant = grants.grant_for_user(version.preview, alice, login_session_key(alice))
    owner_cookie = signing.dumps({"p": version.preview.pk, "u": alice.pk}, salt=proxy.COOKIE_SALT)

    page = open_share(client, share_url(share)).content.decode()

    for forbidden in (
        "csrfmiddlewaretoken",
        "<form",
        "Revoke",
        "Add a version",
        "Create share link",
        WORKSPACE,
        "/sessions/",
        "/runs/",
        "/previews/",
        "/comparisons/",
        "/admin",
        "run #",
        "Watch the agent",
        settings.SECRET_KEY,
        share.salt,
        owner_grant.split(":")[0],  # the owner's grant payload
        owner_cookie.split(":")[0],
        "127.0.0.1:9",  # the dev server's own address
    ):
        assert forbidden not in page, forbidden


def test_a_version_whose_preview_is_stopped_shows_its_summary_and_preview_offline(
    client, comparison
):
    share = share_for(comparison)

    page = open_share(client, share_url(share)).content.decode()

    (calm,) = [card for card in version_cards(page) if "<h3>Calm</h3>" in card]
    assert "Calm tones." in calm
    assert "Preview offline" in calm
    assert "<iframe" not in calm


def test_a_shared_preview_shows_its_frame_and_its_sessions_summary(client, comparison):
    preview = comparison.versions.get(label="Bold").preview
    share = share_for(preview)

    response = open_share(client, share_url(share))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Bold hero." in page
    (src,) = iframe_sources(page)
    grant = signing.loads(parse_qs(urlsplit(src).fragment)["grant"][0], salt=grants.GRANT_SALT)
    assert grant == {"p": preview.pk, "s": share.pk}
    assert "Calm" not in page


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),
        lambda token: token.split(".")[0] + ".",
        lambda token: token.split(".")[0],
        lambda token: str(int(token.split(".")[0]) + 1) + "." + token.split(".")[1],
        lambda token: "x" + token,
        lambda token: "999999.abc",
    ],
    ids=["mac", "empty-mac", "no-mac", "other-id", "bad-id", "unknown-id"],
)
def test_a_tampered_token_gives_404(client, comparison, tamper):
    share_for(comparison)
    share = share_for(comparison)
    token = tamper(shares.share_token(share))

    response = open_share(client, token)

    assert response.status_code == 404
    assert "no longer works" in response.content.decode()


@pytest.mark.parametrize(
    "tamper",
    [lambda token: token[:-1] + "é", lambda token: "\u0661" + token[token.index(".") :]],
    ids=["non-ascii-mac", "arabic-indic-digit-id"],
)
def test_a_token_with_non_ascii_characters_gives_404(client, comparison, tamper):
    share = share_for(comparison)
    token = tamper(shares.share_token(share))

    response = open_share(client, token)

    assert response.status_code == 404
    assert "no longer works" in response.content.decode()


def test_an_expired_link_gives_404(client, comparison):
    share = share_for(comparison)
    share.expires_at = timezone.now() - timedelta(seconds=1)
    share.save()

    response = open_share(client, share_url(share))

    assert response.status_code == 404
    assert "no longer works" in response.content.decode()
    assert "Bold hero." not in response.content.decode()


def test_a_revoked_link_gives_404(client, alice, comparison):
    share = share_for(comparison)
    url = share_url(share)
    assert open_share(client, url).status_code == 200

    client.force_login(alice)
    response = client.post(reverse("share_revoke", args=[share.pk]))
    client.logout()

    assert response.status_code == 302 and response.url == comparison.get_absolute_url()
    share.refresh_from_db()
    assert share.revoked_at is not None
    gone = open_share(client, url)
    assert gone.status_code == 404
    assert "no longer works" in gone.content.decode()


# --- the owner's view --------------------------------------------------------------------------


def share_rows(page: str) -> list[str]:
    table = page.split('data-testid="share-list"')[1].split("</table>")[0]
    return table.split("<tr>")[2:]  # after the header row


def test_the_owners_comparison_page_lists_links_with_status_and_revoke(client, alice, comparison):
    active = share_for(comparison)
    revoked = share_for(comparison)
    shares.share_revoke(share=revoked)
    expired = share_for(comparison)
    ShareLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    client.force_login(alice)

    page = client.get(comparison.get_absolute_url()).content.decode()

    rows = share_rows(page)
    by_status = {re.search(r'class="status [^"]+">(\w+)<', row)[1]: row for row in rows}
    assert len(rows) == 3
    assert set(by_status) == {"active", "revoked", "expired"}
    assert f"http://testserver{share_url(active)}" in by_status["active"]
    assert reverse("share_revoke", args=[active.pk]) in by_status["active"]
    assert "Revoke" in by_status["active"]
    for status in ("revoked", "expired"):
        assert "Revoke" not in by_status[status]
        assert "/s/" not in by_status[status]


def test_bob_cannot_revoke_alices_link(client, bob, comparison):
    share = share_for(comparison)
    client.force_login(bob)

    response = client.post(reverse("share_revoke", args=[share.pk]))

    assert response.status_code == 404
    share.refresh_from_db()
    assert share.revoked_at is None
    client.logout()
    assert open_share(client, share_url(share)).status_code == 200


def test_bob_does_not_see_alices_links(client, bob, comparison):
    share = share_for(comparison)
    client.force_login(bob)
    assert client.get(comparison.get_absolute_url()).status_code == 404
    assert shares.share_token(share) not in client.get(reverse("home")).content.decode()


def test_revoking_twice_keeps_the_first_revocation_time(comparison):
    share = share_for(comparison)
    shares.share_revoke(share=share)
    first = share.revoked_at
    shares.share_revoke(share=ShareLink.objects.get(pk=share.pk))
    share.refresh_from_db()
    assert share.revoked_at == first


def test_a_share_lasts_between_a_minute_and_90_days(comparison):
    for bad in (timedelta(0), timedelta(hours=-1), timedelta(days=91)):
        with pytest.raises(shares.ShareRefused):
            shares.share_create(owner=comparison.owner, comparison=comparison, expires_in=bad)
    assert ShareLink.objects.count() == 0


def test_full_size_opens_a_shared_preview_in_its_own_tab_with_a_fresh_share_grant(
    client, comparison
):
    share = share_for(comparison)
    ready = comparison.versions.get(label="Bold").preview
    stopped = comparison.versions.get(label="Calm").preview
    page = open_share(client, share_url(share)).content.decode()
    full = reverse("share_preview_open", args=[share.pk, ready.pk])
    assert f'href="{full}"' in page and page.count('data-testid="open-full"') == 1

    response = client.get(full)
    assert response.status_code == 302
    url = urlsplit(response.url)
    assert (url.netloc, url.path) == (f"p{ready.pk}.preview.localhost", grants.ENTER_PATH)
    grant = signing.loads(parse_qs(url.fragment)["grant"][0], salt=grants.GRANT_SALT)
    assert grant == {"p": ready.pk, "s": share.pk}
    assert response.headers["Cache-Control"] == "no-store"

    # Offline previews, previews of no share, and browsers without the share's cookie: no.
    assert client.get(reverse("share_preview_open", args=[share.pk, stopped.pk])).status_code == 404
    other = Preview.objects.create(session=ready.session, port=5000, status=Preview.Status.READY)
    assert client.get(reverse("share_preview_open", args=[share.pk, other.pk])).status_code == 404
    assert Client().get(full).status_code != 302
    shares.share_revoke(share=share)
    assert client.get(full).status_code != 302


def test_focus_shows_one_shared_version_full_width(client, comparison):
    share = share_for(comparison)
    open_share(client, share_url(share))
    bold = comparison.versions.get(label="Bold")
    page = client.get(reverse("share_page", args=[share.pk]) + f"?focus={bold.pk}").content.decode()
    assert 'class="versions-grid n2 focused"' in page
    assert page.count('class="version card hidden"') == 1 and 'data-testid="show-all"' in page


def test_a_version_whose_preview_stopped_never_reads_ready(client, alice, comparison):
    """The badge and the frame agree: a stopped dev server is "Preview offline" in both."""
    share = share_for(comparison)
    shared = open_share(client, share_url(share)).content.decode()
    own = login(Client(), alice).get(comparison.get_absolute_url()).content.decode()
    for page in (shared, own):
        badges = re.findall(r'data-testid="version-stage"[^>]*>([^<]+)<', page)
        assert badges == ["Ready", "Preview offline"], badges
        assert page.count('data-testid="preview-offline"') == 1
