"""A share outlives its sandboxes: a real Vite app, built for production and kept.

alice builds two versions of the Vite starter (offline demo model, local backend, a real
`npm install` and Vite dev server each) and shares them. Sharing builds each app for
production in its sandbox (`npm run build`) and stores the output. She shuts every sandbox
down. A logged-out viewer opens the link: each iframe runs its app from the snapshot, on the
preview's own origin, badged "snapshot from <time>", with the agent's summary. bob, logged in,
cannot reach a snapshot. Revoking the link stops the page and the snapshot's origin.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from .conftest import ARTIFACTS, PREVIEW_URL, click_and_confirm, shot
from .test_versions import (  # noqa: F401 - npm_works is a fixture
    APP_TIMEOUT,
    BRANDS,
    HEADLINES,
    REVOKE_TIMEOUT,
    VERSIONS,
    failure_report,
    new_comparison,
    npm_works,
    preview_frames,
    reload_frame,
    wait_for_versions,
)

pytestmark = pytest.mark.e2e

TITLE = "Bakery homepage, kept"
SNAPSHOT_TIMEOUT = 180_000  # `npm run build` of each version, after its dev server is up


def assert_apps_render_from(page: Page, mode: str) -> None:
    """Each card's iframe runs its own app (React answers), badged `mode`."""
    cards = page.get_by_test_id("version")
    expect(cards).to_have_count(len(VERSIONS))
    for i, headline in enumerate(HEADLINES):
        card = cards.nth(i)
        expect(card.get_by_test_id("frame-mode")).to_contain_text(mode)
        frame = card.frame_locator("[data-testid=version-frame]")
        expect(frame.locator("[data-testid=demo-title]")).to_have_text(
            headline, timeout=APP_TIMEOUT
        )
        frame.get_by_test_id("demo-band-cta").click()
        expect(frame.get_by_test_id("demo-joined")).to_have_text("Thanks! You're on the list.")


def test_a_shared_comparison_shows_its_apps_from_snapshots_once_the_sandboxes_are_gone(
    npm_works,  # noqa: F811
    alice,
    new_context,
    bob_page,
):
    page = alice
    comparison_id = new_comparison(page, TITLE)
    stages = wait_for_versions(page, len(VERSIONS))
    assert stages == ["Ready"] * len(VERSIONS), failure_report(page)

    # Share: the request answers at once; the snapshots build in the background, and the
    # share panel shows them building, then ready with their size.
    page.get_by_label("Expires after").select_option("24h")
    page.get_by_role("button", name="Create share link").click()
    page.wait_for_url(re.compile(rf"/comparisons/{comparison_id}/$"))
    share_url = page.get_by_test_id("share-url").input_value()
    snapshots = page.get_by_test_id("snapshot")
    expect(snapshots).to_have_count(len(VERSIONS))
    ready = page.locator("[data-testid=snapshot][data-status=ready]")
    expect(ready).to_have_count(len(VERSIONS), timeout=SNAPSHOT_TIMEOUT)
    for i in range(len(VERSIONS)):
        size = ready.nth(i).get_by_test_id("snapshot-size").inner_text()
        assert re.match(r"^[\d.]+\xa0(KB|MB|bytes), \d+ files$", size), size
    page.set_viewport_size({"width": 1440, "height": 900})
    page.get_by_test_id("share-list").scroll_into_view_if_needed()
    shot(page, "snapshots-ready-owner")

    # While the sandboxes run, the share shows the apps live.
    public = new_context().new_page()
    public.set_viewport_size({"width": 1440, "height": 900})
    public.goto(share_url)
    public.wait_for_url(re.compile(r"/s/\d+/$"))
    assert_apps_render_from(public, "live")

    # alice shuts every sandbox of the comparison down (their snapshots are up to date, so at
    # once), from the Sandboxes page.
    page.goto("/sessions/")
    for label, _ in VERSIONS:
        page.get_by_label(f"Select {TITLE}: {label}").check()
    click_and_confirm(page, page.get_by_test_id("bulk-shutdown"))  # "Their workspaces are deleted."
    expect(page.locator(".messages")).to_contain_text(
        f"Shut down {len(VERSIONS)} sandboxes.", timeout=60_000
    )
    page.goto("/sessions/?status=stopped")
    for label, _ in VERSIONS:
        expect(page.locator("tr", has_text=f"{TITLE}: {label}")).to_contain_text("Stopped")

    # The logged-out viewer reloads: every version still shows its app, now from its snapshot,
    # on the same preview origin, with the agent's summary.
    public.reload()
    assert_apps_render_from(public, "snapshot from ")
    cards = public.get_by_test_id("version")
    for i in range(len(VERSIONS)):
        expect(cards.nth(i).get_by_test_id("version-summary")).to_contain_text(
            f"I built a landing page for “{BRANDS[i]}”"
        )
        expect(cards.nth(i).get_by_test_id("frame-mode")).to_have_text(
            re.compile(r"^snapshot from \d{4}-\d\d-\d\d \d\d:\d\d UTC$")
        )
    frames = preview_frames(public)
    # A single-page app's route is index.html: the app answers any path of its origin.
    routed = public.frame_locator("[data-testid=version-frame]").first
    frames[0].goto(PREVIEW_URL.match(frames[0].url).group(0) + "some/route")
    expect(routed.locator("[data-testid=demo-title]")).to_have_text(HEADLINES[0])
    frames[0].goto(PREVIEW_URL.match(frames[0].url).group(0))
    expect(routed.locator("[data-testid=demo-title]")).to_have_text(HEADLINES[0])
    shot(public, "share-snapshot-1440x900")
    public.set_viewport_size({"width": 390, "height": 844})
    for i in reversed(range(len(VERSIONS))):  # lazy iframes load once scrolled to
        cards.nth(i).scroll_into_view_if_needed()
        expect(
            cards.nth(i)
            .frame_locator("[data-testid=version-frame]")
            .locator("[data-testid=demo-title]")
        ).to_be_visible(timeout=APP_TIMEOUT)
    expect(cards.first.get_by_test_id("frame-mode")).to_be_visible()
    shot(public, "share-snapshot-390x844")
    # A full-page shot may catch a lazy iframe below the fold blank: the last card as seen.
    cards.last.locator("[data-testid=version-frame]").scroll_into_view_if_needed()
    public.wait_for_timeout(500)
    public.screenshot(path=str(ARTIFACTS / "share-snapshot-390x844-last-card.png"))

    # bob, logged in, reaches neither a snapshot's origin nor its owner controls.
    origin = PREVIEW_URL.match(frames[0].url).group(0)
    response = bob_page.goto(origin)
    assert response.status == 403
    expect(bob_page.locator("[data-testid=demo-title]")).to_have_count(0)
    share_id = int(re.search(r"/s/(\d+)/$", public.url).group(1))
    assert bob_page.request.get(f"/shares/{share_id}/snapshots/").status == 404

    # alice revokes the link: the page and the snapshot's origin stop.
    page.goto(f"/comparisons/{comparison_id}/")
    page.get_by_test_id("revoke").click()
    expect(page.locator(".messages")).to_contain_text("Share link revoked")
    for frame in frames:
        deadline = time.monotonic() + REVOKE_TIMEOUT
        while (status := reload_frame(frame)) != 403 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert status == 403, f"{frame.url} still served after the revoke: {status}"
        expect(frame.locator("[data-testid=demo-title]")).to_have_count(0)
    assert public.reload().status == 404
    expect(public.get_by_role("heading", name="This link no longer works")).to_be_visible()
