"""Versions side by side, shared and revoked, through a real browser against the real daphne.

alice builds two versions of the Vite starter with the offline demo model on the local backend.
Each version gets its own sandbox, the demo agent rewrites src/App.tsx, and the preview runs a
real `npm install` (vite + react from the npm registry) and a real Vite dev server. Both iframes
must then render the app through the dashboard's proxy on p<id>.preview.localhost. A share link
opens the same view logged out, read-only; revoking it turns the page into a 404 and shuts the
iframes that were already open out of the proxy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from playwright.sync_api import Frame, Page, expect

from runs.demo import landing

from ..images import distinct_colours
from .conftest import ARTIFACTS, PREVIEW_URL, STARTER, alice_previews, shot

pytestmark = pytest.mark.e2e

TITLE = "Bakery homepage"
VERSIONS = [
    ("basic", "A basic page for a bakery"),
    ("polished", "A polished purple page for a bakery"),
]
# The demo agent builds a landing page from each brief ("basic" centred, "polished" split).
HEADLINES = [landing.spec_from_brief(prompt)["headline"] for _, prompt in VERSIONS]
BRANDS = [landing.spec_from_brief(prompt)["brand"] for _, prompt in VERSIONS]
# Sandbox + demo run + a real `npm install` per version (the first one on a cold cache) + Vite.
BUILD_TIMEOUT = 300_000
# Vite pre-bundles react on the first page load and may reload the page once meanwhile.
APP_TIMEOUT = 60_000
# The proxy caches an access decision for ACCESS_CACHE_SECONDS (2 s).
REVOKE_TIMEOUT = 10.0


# --- helpers ------------------------------------------------------------------------------------


def assert_thumbnails(page: Page) -> list[bytes]:
    """Each version card shows a screenshot of its app (taken server-side when its preview
    became ready): a loaded 1280x800 PNG, different for each version. Their bytes."""
    images = page.locator("[data-testid=version-thumbnail] img")
    expect(images).to_have_count(len(VERSIONS))
    pictures = []
    for image in images.all():
        expect(image).to_be_visible()
        image.scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
        assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [1280, 800]
        response = page.request.get(image.get_attribute("src"))
        assert response.status == 200 and response.headers["content-type"] == "image/png"
        pictures.append(response.body())
    assert len(set(pictures)) == len(VERSIONS), "two versions, one picture"
    for picture in pictures:
        assert distinct_colours(picture) > 20, "a blank screenshot"
    return pictures


def new_comparison(page: Page, title: str = TITLE) -> int:
    """From the home page: open the Vite starter, fill two versions, build; returns its id."""
    page.goto("/")
    page.locator("a.card.link", has_text=STARTER).click()
    page.wait_for_url(re.compile(r"/manifests/\d+/$"))
    page.get_by_role("link", name="Build versions side by side →").click()
    page.wait_for_url(re.compile(r"/manifests/\d+/compare/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Build versions side by side")

    for i, (label, prompt) in enumerate(VERSIONS, start=1):
        page.get_by_label(f"Version {i} label").fill(label)
        page.locator(f"textarea[name=prompt_{i}]").fill(prompt)
    page.get_by_label("Title").fill(title)
    expect(page.get_by_label("Backend")).to_have_value("local")
    expect(page.locator("input[name=agent-model]")).to_have_value("demo")
    # Not get_by_text / a role on the name alone: the page's heading says "Build versions" too.
    page.locator('button:has-text("Build versions")').click()
    page.wait_for_url(re.compile(r"/comparisons/\d+/$"))
    return int(re.search(r"/comparisons/(\d+)/$", page.url).group(1))


def wait_for_versions(page: Page, count: int) -> list[str]:
    """Poll until every version card says Ready, or one says Failed; returns the stages."""
    page.wait_for_function(
        """(count) => {
            const stages = [...document.querySelectorAll("[data-testid=version-stage]")]
                .map((el) => el.textContent.trim());
            return stages.length === count
                && (stages.every((s) => s === "Ready") || stages.includes("Failed"));
        }""",
        arg=count,
        polling=1000,
        timeout=BUILD_TIMEOUT,
    )
    return [s.strip() for s in page.get_by_test_id("version-stage").all_inner_texts()]


def failure_report(page: Page) -> str:
    """What the version cards say, and the command logs of the previews, for a failed build."""
    lines = [page.get_by_test_id("versions").inner_text()]
    for n in alice_previews(page):
        response = page.request.get(f"/previews/{n}/")
        log = re.search(r'data-testid="preview-log">(.*?)</pre>', response.text(), re.S)
        lines.append(f"--- preview {n} log ---\n{log.group(1)[-4000:] if log else '?'}")
    return "\n".join(lines)


def assert_apps_render(page: Page) -> None:
    """Each version's iframe runs its own Vite app, with its own prompt's headline."""
    frames = page.frame_locator("[data-testid=version-frame]")
    expect(page.get_by_test_id("version-frame")).to_have_count(len(VERSIONS))
    for i, headline in enumerate(HEADLINES):
        title = frames.nth(i).locator("[data-testid=demo-title]")
        expect(title).to_have_text(headline, timeout=APP_TIMEOUT)
        # React runs (it is the app, not a static page): the signup form answers.
        frames.nth(i).get_by_test_id("demo-band-cta").click()
        expect(frames.nth(i).get_by_test_id("demo-joined")).to_have_text(
            "Thanks! You're on the list."
        )


def preview_frames(page: Page) -> list[Frame]:
    """The iframes' frames, served by the proxy on their own host, in card order."""
    frames = [f for f in page.frames if PREVIEW_URL.match(f.url)]
    assert len(frames) == len(VERSIONS), [f.url for f in page.frames]
    order = [e.content_frame() for e in page.get_by_test_id("version-frame").element_handles()]
    return sorted(frames, key=order.index)


def reload_frame(frame: Frame) -> int:
    """Load the iframe's own URL again, as a viewer would; returns the proxy's status."""
    url = PREVIEW_URL.match(frame.url).group(0)  # the app's root, past the entry redirect
    response = frame.goto(url)
    assert response is not None
    return response.status


@pytest.fixture(scope="module")
def npm_works() -> None:
    """node and npm as the daphne subprocess will find them: on PATH, recent enough, with a
    writable cache (npm puts it under $HOME unless npm_config_cache says otherwise)."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not on PATH: previews run npm.", pytrace=False)
    version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
    major, minor = (int(n) for n in version.strip().lstrip("v").split(".")[:2])
    if (major, minor) < (20, 19):
        pytest.fail(f"Vite 8 needs node >= 20.19, found {version.strip()}.", pytrace=False)
    cache = subprocess.run(
        ["npm", "config", "get", "cache"], capture_output=True, text=True, env=os.environ
    ).stdout.strip()
    try:
        Path(cache).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=cache):
            pass
    except OSError as error:
        pytest.fail(
            f"npm's cache {cache!r} is not writable ({error}); HOME={os.environ.get('HOME')!r}. "
            "Point npm_config_cache at a writable directory.",
            pytrace=False,
        )


# --- the test -----------------------------------------------------------------------------------


def test_versions_side_by_side_share_and_revoke(npm_works, alice, new_context):
    page = alice
    comparison_id = new_comparison(page)

    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    cards = page.get_by_test_id("version")
    expect(cards).to_have_count(len(VERSIONS))
    for i, (label, prompt) in enumerate(VERSIONS):
        expect(cards.nth(i).locator("h3")).to_have_text(label)
        expect(cards.nth(i).locator(".version-prompt")).to_have_text(prompt)
    expect(page.locator(".pill-demo").first).to_be_visible()
    shot(page, "versions-building")

    # Sandbox, agent run, npm install and Vite boot, for both versions at once.
    started = time.monotonic()
    stages = wait_for_versions(page, len(VERSIONS))
    assert stages == ["Ready"] * len(VERSIONS), (
        f"versions not ready after {time.monotonic() - started:.0f} s: {stages}\n"
        + failure_report(page)
    )
    assert_apps_render(page)
    frames = preview_frames(page)
    preview_ids = [int(PREVIEW_URL.match(f.url).group(1)) for f in frames]
    assert len(set(preview_ids)) == len(VERSIONS), preview_ids
    for card in (cards.nth(i) for i in range(len(VERSIONS))):
        expect(card.get_by_text("Succeeded")).to_be_visible()
        expect(card.locator("code.change-modified", has_text="src/App.tsx")).to_be_visible()
    thumbnails = assert_thumbnails(page)
    shot(page, "versions-ready")

    # Focus: one card, full width, still rendering its app; "Show all" goes back.
    version_ids = [
        int(cards.nth(i).get_attribute("id").removeprefix("version-")) for i in range(len(VERSIONS))
    ]
    cards.nth(1).get_by_role("link", name="Focus").click()
    page.wait_for_url(re.compile(rf"/comparisons/{comparison_id}/\?focus={version_ids[1]}$"))
    visible = page.locator("[data-testid=version]:visible")
    expect(visible).to_have_count(1)
    expect(visible.locator("h3")).to_have_text(VERSIONS[1][0])
    focused_frame = visible.frame_locator("[data-testid=version-frame]")
    expect(focused_frame.locator("[data-testid=demo-title]")).to_have_text(
        HEADLINES[1], timeout=APP_TIMEOUT
    )
    visible.get_by_role("link", name="Show all").click()
    page.wait_for_url(re.compile(rf"/comparisons/{comparison_id}/$"))
    expect(page.locator("[data-testid=version]:visible")).to_have_count(len(VERSIONS))

    # Share for 24 hours.
    page.get_by_label("Expires after").select_option("24h")
    page.get_by_role("button", name="Create share link").click()
    page.wait_for_url(re.compile(rf"/comparisons/{comparison_id}/$"))
    expect(page.locator(".messages")).to_contain_text("Share link created")
    share_url = page.get_by_test_id("share-url").input_value()
    # The token rides in the fragment: browsers never send it, so no access log has it.
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/s/#\d+\.[\w-]+", share_url), share_url

    # Someone else, logged out, opens it: both versions, read-only.
    public = new_context().new_page()
    response = public.goto(share_url)
    assert response.status == 200
    public.wait_for_url(re.compile(r"/s/\d+/$"))  # not sent to the login page
    expect(public.locator(".topbar")).to_contain_text(TITLE)
    expect(public.locator(".topbar")).to_contain_text("Shared read-only view")
    public_cards = public.get_by_test_id("version")
    expect(public_cards).to_have_count(len(VERSIONS))
    for i, (label, _) in enumerate(VERSIONS):
        card = public_cards.nth(i)
        expect(card.locator("h3")).to_have_text(label)
        expect(card.get_by_test_id("version-stage")).to_have_text("Ready")
        expect(card.get_by_test_id("version-summary")).to_be_visible()
        expect(card.get_by_test_id("version-summary")).to_contain_text(
            f"I built a landing page for “{BRANDS[i]}”"
        )
    assert_apps_render(public)
    public_thumbnails = assert_thumbnails(public)
    assert public_thumbnails == thumbnails  # the same pictures, by the share's own URLs
    public_thumbnail_urls = [
        img.get_attribute("src")
        for img in public.locator("[data-testid=version-thumbnail] img").all()
    ]
    assert all(re.fullmatch(r"/s/\d+/screenshots/\d+\.png", u) for u in public_thumbnail_urls)
    expect(public.get_by_text("Revoke")).to_have_count(0)
    expect(public.locator("form")).to_have_count(0)
    expect(public.locator("[hx-get]")).to_have_count(0)
    expect(public.locator('a[href*="/runs/"], a[href*="/comparisons/"]')).to_have_count(0)
    expect(public.get_by_text("Log out")).to_have_count(0)
    public_frames = preview_frames(public)
    assert [int(PREVIEW_URL.match(f.url).group(1)) for f in public_frames] == preview_ids
    # The share's grant survives a reload of the iframe while the link is valid.
    assert reload_frame(public_frames[0]) == 200
    expect(
        public.frame_locator("[data-testid=version-frame]").first.locator(
            "[data-testid=demo-title]"
        )
    ).to_have_text(HEADLINES[0], timeout=APP_TIMEOUT)
    shot(public, "share-public")

    # alice revokes it.
    page.get_by_test_id("revoke").click()
    page.wait_for_url(re.compile(rf"/comparisons/{comparison_id}/$"))
    expect(page.locator(".messages")).to_contain_text("Share link revoked")
    expect(page.get_by_test_id("share-list")).to_contain_text("revoked")
    expect(page.get_by_test_id("share-url")).to_have_count(0)
    expect(page.get_by_test_id("revoke")).to_have_count(0)

    # The iframes already open on the shared page are shut out by the proxy.
    for frame in public_frames:
        deadline = time.monotonic() + REVOKE_TIMEOUT
        while (status := reload_frame(frame)) != 403 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert status == 403, f"the proxy still serves {frame.url} after the revoke: {status}"
        expect(frame.get_by_role("heading", name="Preview not available")).to_be_visible()
        expect(frame.locator("[data-testid=demo-title]")).to_have_count(0)
    shot(public, "share-revoked-frames")

    # And the page itself is gone, its thumbnails too.
    for url in public_thumbnail_urls:
        assert public.request.get(url).status == 404
    response = public.reload()
    assert response.status == 404
    expect(public.get_by_role("heading", name="This link no longer works")).to_be_visible()
    expect(public.get_by_test_id("version-frame")).to_have_count(0)
    shot(public, "share-revoked")

    # alice still sees her versions: revoking a link stops nothing of hers.
    page.reload()
    assert_apps_render(page)

    # The preview's own page: take another screenshot on demand.
    page.goto(f"/previews/{preview_ids[0]}/")
    screenshots = page.get_by_test_id("screenshot")
    expect(screenshots).to_have_count(1)  # the one taken when the version became ready
    page.get_by_role("button", name="Take a screenshot").click()
    expect(screenshots).to_have_count(2, timeout=APP_TIMEOUT)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=screenshot]')]"
        ".every((img) => img.complete && img.naturalWidth === 1280)"
    )
    # The section alone: the preview's iframe above it may reload while Vite warms up.
    page.locator("#screenshots").screenshot(path=str(ARTIFACTS / "preview-screenshots.png"))
