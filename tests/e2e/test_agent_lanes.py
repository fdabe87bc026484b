"""Agent-led lane groups through a real browser against the real daphne server, with the offline
demo model and no key.

The code review: the coordinator calls its three reviewer tools at once; each call streams in
its lane's column; the findings table lists the sample repo's planted bugs with file and line.
Homepage directions: three directions of one brief stream side by side, each serves a real Vite
preview, the coordinator's selection shows as cards with a winner, and "Open as comparison"
puts the three apps side by side (different layouts, not only colours).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .conftest import ARTIFACTS, shot
from .test_versions import npm_works  # noqa: F401 (a fixture)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sandboxes/starters/fullstack-sample"
GROUP_TIMEOUT = 180_000
PREVIEW_TIMEOUT = 300_000
WIDE, PHONE = {"width": 1440, "height": 900}, {"width": 390, "height": 844}
BRIEF = "A landing page for a green tea shop in Kyoto called Matcha House, listing sencha."

# On every DOM change, note for each lane call panel whether it showed log items while its
# status read "Running" (streaming live, not replayed at the end).
WATCH_JS = """
window.__streamed = {};
new MutationObserver(() => {
  document.querySelectorAll("[data-testid=lane-call]").forEach((call) => {
    const status = call.querySelector("[data-testid=run-status]");
    const items = call.querySelectorAll("ol.log > li.ev").length;
    const seen = window.__streamed[call.dataset.run] || 0;
    if (status && status.textContent.trim() === "Running")
      window.__streamed[call.dataset.run] = Math.max(seen, items);
  });
}).observe(document, { childList: true, subtree: true, characterData: true });
"""


def line_of(path: str, needle: str) -> int:
    lines = (SAMPLE / path).read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if needle in text)


def launch(page: Page, heading: str, button: str) -> str:
    page.goto("/presets/")
    section = page.locator("section.card", has=page.get_by_role("heading", name=heading))
    expect(section.get_by_role("radio", name=re.compile("Agent-led"))).to_be_checked()
    section.get_by_test_id(button).click()
    page.wait_for_url(re.compile(r"/lanes/\d+/$"))
    return page.url


def wait_for_lanes_streaming(page: Page, count: int) -> None:
    """Every lane column gets a call from the coordinator, and they run at the same time."""
    page.wait_for_function(
        """(count) => {
            const calls = [...document.querySelectorAll("[data-testid=lane-call]")];
            return calls.length === count && calls.every((call) =>
                call.querySelector("[data-testid=run-status]").textContent.trim() === "Running");
        }""",
        arg=count,
        polling="raf",
        timeout=GROUP_TIMEOUT,
    )


def shots(page: Page, name: str, focus=None) -> None:
    """The page at 1440x900 and at 390x844 (and, on the phone, the screen around `focus`)."""
    page.set_viewport_size(WIDE)
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, f"{name}-1440")
    page.set_viewport_size(PHONE)
    shot(page, f"{name}-390")
    if focus is not None:
        focus.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"{name}-390-screen.png"))
    page.set_viewport_size(WIDE)


@pytest.mark.usefixtures("npm_works")
def test_agent_led_code_review_lists_the_planted_bugs_with_file_and_line(alice: Page):
    page = alice
    page.add_init_script(WATCH_JS)
    page.set_viewport_size(WIDE)
    launch(page, "Full-stack code review", "launch-code-review")

    lanes = page.get_by_test_id("lane")
    expect(lanes).to_have_count(3)
    for lane, label in zip(lanes.all(), ["Frontend", "Backend", "Repository"], strict=True):
        expect(lane.get_by_role("heading", level=3)).to_have_text(label)
        expect(lane).to_contain_text("Not called yet")
    coordinator = page.get_by_test_id("coordinator")
    expect(coordinator.get_by_role("heading", name="Coordinator")).to_be_visible()

    # The coordinator calls all three reviewers in one turn: each call streams in its column.
    wait_for_lanes_streaming(page, 3)
    for lane in lanes.all():
        expect(lane.get_by_test_id("lane-call")).to_have_count(1)
    shots(page, "agent-review-01-streaming")

    # The frontend lane's call waits for its preview (npm install, Vite) before it answers.
    coordinator.locator("[data-run-finished]").wait_for(timeout=PREVIEW_TIMEOUT)
    expect(coordinator.get_by_test_id("run-status")).to_have_text("Succeeded")
    for lane in lanes.all():
        expect(lane.get_by_test_id("run-status")).to_have_text("Succeeded")
        expect(lane.locator("ol.log pre.cmd").first).to_be_visible()  # what it ran
    # The coordinator's own log shows its calls and what they returned.
    expect(coordinator.locator("li.ev-lane-call")).to_have_count(3)
    streamed = page.evaluate("window.__streamed")
    assert len(streamed) == 3 and all(n > 0 for n in streamed.values()), streamed

    table = coordinator.get_by_test_id("findings-table")
    rows = table.get_by_test_id("finding")
    planted = {
        "Debug mode": ("backend/app.py", line_of("backend/app.py", "debug=True")),
        "A secret is hard-coded": ("backend/app.py", line_of("backend/app.py", "SECRET_KEY")),
        "SQL is built from strings": ("backend/app.py", line_of("backend/app.py", "LIKE '%{")),
        "Missing input validation:": ("backend/app.py", line_of("backend/app.py", "get_json()")),
        "stored XSS": ("frontend/src/App.jsx", line_of("frontend/src/App.jsx", "dangerously")),
        # What the backend lane saw when it ran the API and probed it.
        "GET /api/notes?q=' returned 500 with a traceback": (
            "backend/app.py",
            line_of("backend/app.py", "LIKE '%{"),
        ),
        "returned 204 but the note is still listed": (
            "backend/app.py",
            line_of("backend/app.py", 'execute("DELETE'),
        ),
    }
    for finding, (file, line) in planted.items():
        row = rows.filter(has_text=finding)
        expect(row).to_have_count(1)
        expect(row.locator("td").nth(2)).to_have_text(file)
        expect(row.locator("td").nth(3)).to_have_text(str(line))
    expect(rows.first.locator(".sev")).to_have_text("high")
    # The frontend lane started the sample's front end and the coordinator got its picture.
    frontend = lanes.nth(0)
    expect(frontend.get_by_test_id("lane-preview")).to_contain_text("Preview ready")
    thumb = frontend.get_by_test_id("lane-thumbnail")
    expect(thumb).to_be_visible(timeout=30_000)
    thumb.evaluate("(img) => img.complete || new Promise((r) => img.onload = r)")
    assert thumb.evaluate("(img) => img.naturalWidth") == 1280
    (ARTIFACTS / "agent-review-frontend-screenshot.png").write_bytes(
        page.request.get(thumb.get_attribute("src")).body()
    )
    expect(coordinator.get_by_test_id("tool-image")).to_have_count(1)
    expect(coordinator).to_contain_text("Screenshot of the running app from: Frontend.")
    for other in (lanes.nth(1), lanes.nth(2)):
        expect(other.get_by_test_id("lane-thumbnail")).to_have_count(0)
    # The backend lane's column shows the probe's real answers.
    backend_log = lanes.nth(1).locator("ol.log")
    expect(backend_log).to_contain_text("HTTP/1.0 500 Internal Server Error")
    expect(backend_log).to_contain_text("sqlite3.OperationalError")
    export = coordinator.get_by_test_id("export-json")
    with page.expect_download() as download:
        export.click()
    assert download.value.suggested_filename.endswith("-result.json")
    shots(page, "agent-review-02-findings", focus=table)

    # Reloaded, the page arrives with the coordinator's log folded: its lane calls are in
    # their columns, each once, with its run's whole log, as the live fragments put them.
    page.reload()
    expect(page.locator("[data-testid=coordinator] [data-conn]")).to_have_text("finished")
    expect(coordinator.locator("li.ev-lane-call")).to_have_count(3)
    for lane in lanes.all():
        expect(lane.get_by_test_id("lane-call")).to_have_count(1)
        expect(lane.get_by_test_id("run-status")).to_have_text("Succeeded")
        expect(lane.locator("ol.log pre.cmd").first).to_be_visible()
    shots(page, "agent-review-03-reloaded")


@pytest.mark.usefixtures("npm_works")
def test_homepage_directions_stream_pick_a_winner_and_open_as_a_comparison(alice):
    page = alice
    page.add_init_script(WATCH_JS)
    page.set_viewport_size(WIDE)
    page.goto("/presets/")
    section = page.locator("section.card", has=page.get_by_role("heading", name="Homepage"))
    section.get_by_label("Brief").fill(BRIEF)
    section.get_by_label("Directions").fill("3")
    shots(page, "directions-01-presets")
    section.get_by_test_id("launch-homepage").click()
    page.wait_for_url(re.compile(r"/lanes/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Homepage directions")

    lanes = page.get_by_test_id("lane")
    expect(lanes).to_have_count(3)
    wait_for_lanes_streaming(page, 3)
    shots(page, "directions-02-streaming")

    coordinator = page.get_by_test_id("coordinator")
    # The directions wait for their previews (npm install, Vite) before they answer.
    coordinator.locator("[data-run-finished]").wait_for(timeout=PREVIEW_TIMEOUT)
    expect(coordinator.get_by_test_id("run-status")).to_have_text("Succeeded")
    streamed = page.evaluate("window.__streamed")
    assert len(streamed) == 3 and all(n > 0 for n in streamed.values()), streamed
    # The selection as cards: three directions scored, one winner, a recommendation.
    picks = coordinator.get_by_test_id("pick")
    expect(picks).to_have_count(3)
    expect(coordinator.get_by_test_id("winner")).to_have_count(1)
    winner = picks.filter(has=page.get_by_test_id("winner")).locator("h4").inner_text()
    assert winner in {"Split", "Centered", "Editorial"}
    expect(coordinator.get_by_test_id("recommendation")).to_contain_text(f"Ship {winner}")
    # Each direction served its preview and handed the coordinator its screenshot: the lane
    # cards show them, three different pictures; the coordinator's log shows what it was given.
    thumbs = []
    for lane in lanes.all():
        expect(lane.get_by_test_id("lane-preview")).to_contain_text("Preview ready")
        thumb = lane.get_by_test_id("lane-thumbnail")
        expect(thumb).to_be_visible(timeout=30_000)
        thumb.evaluate("(img) => img.complete || new Promise((r) => img.onload = r)")
        assert thumb.evaluate("(img) => img.naturalWidth") == 1280
        thumbs.append(page.request.get(thumb.get_attribute("src")).body())
    assert len(set(thumbs)) == 3
    expect(coordinator.get_by_test_id("tool-image")).to_have_count(3)
    expect(picks.first).to_contain_text("judged from its screenshot too")
    shots(page, "directions-03-selection", focus=picks.first)

    # One click: the directions side by side, each its own app in its own layout.
    page.get_by_test_id("open-comparison").click()
    page.wait_for_url(re.compile(r"/comparisons/\d+/$"))
    expect(page.get_by_test_id("version")).to_have_count(3)
    frames = page.frame_locator("[data-testid=version-frame]")
    expect(page.get_by_test_id("version-frame")).to_have_count(3)
    headlines = []
    for i in range(3):
        title = frames.nth(i).locator("[data-testid=demo-title]")
        expect(title).not_to_be_empty(timeout=60_000)
        expect(frames.nth(i).get_by_test_id("demo-footer")).to_contain_text("Matcha House")
        headlines.append(title.inner_text())
    assert len(set(headlines)) == 3, headlines  # three layouts, three heroes
    shots(page, "directions-04-comparison")
    # Shareable like any comparison.
    expect(page.get_by_role("button", name=re.compile("share link", re.I))).to_be_visible()
