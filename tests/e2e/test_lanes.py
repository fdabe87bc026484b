"""Parallel lanes through a real browser against the real daphne server.

alice opens Presets & lanes and launches the full-stack code review with the offline demo
model: three reviewer lanes, each in its own local sandbox, stream their logs side by side on
one page; then the synthesis panel shows the coordinator's report naming every lane.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import login, shot

pytestmark = pytest.mark.e2e

LANES = ["Frontend", "Backend", "Repository"]
GROUP_TIMEOUT = 120_000

# Installed before the page's own scripts: on every DOM change, note for each run panel whether
# it showed log items while its status still read "Running" (streaming, not replayed at the end).
WATCH_LANES_JS = """
window.__streamed = {};
const check = () => {
  document.querySelectorAll("[data-run-stream]").forEach((panel) => {
    const status = panel.querySelector("[data-testid=run-status]");
    const items = panel.querySelectorAll("ol.log > li.ev").length;
    const id = panel.dataset.wsPath;
    const seen = window.__streamed[id] || { whileRunning: 0, statuses: [] };
    const text = status ? status.textContent.trim() : "";
    if (text === "Running") seen.whileRunning = Math.max(seen.whileRunning, items);
    if (text && seen.statuses[seen.statuses.length - 1] !== text) seen.statuses.push(text);
    window.__streamed[id] = seen;
  });
};
new MutationObserver(check).observe(
  document, { childList: true, subtree: true, characterData: true }
);
"""


def lane_panels(page: Page):
    return page.get_by_test_id("lane")


def test_fixed_fan_out_lanes_stream_side_by_side_then_the_synthesis(alice_page: Page, new_context):
    page = alice_page
    page.add_init_script(WATCH_LANES_JS)

    # Presets & lanes, from the navigation.
    page.get_by_role("navigation").get_by_role("link", name="Presets & lanes").click()
    page.wait_for_url(re.compile(r"/presets/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Presets & parallel lanes")
    review = page.locator(
        "section.card", has=page.get_by_role("heading", name="Full-stack code review")
    )
    model = review.locator("input[name=review-model]")
    expect(model).to_have_value("demo")  # no OpenAI key on this server: the offline demo
    shot(page, "lanes-01-presets")

    # Agent-led is the default; this test follows the fixed fan-out.
    expect(review.get_by_role("radio", name=re.compile("Agent-led"))).to_be_checked()
    review.get_by_role("radio", name=re.compile("Fixed fan-out")).check()
    review.get_by_test_id("launch-code-review").click()
    page.wait_for_url(re.compile(r"/lanes/\d+/$"))
    group_url = page.url
    expect(page.get_by_role("heading", level=1)).to_have_text("Full-stack code review")
    expect(lane_panels(page)).to_have_count(3)
    for panel, label in zip(lane_panels(page).all(), LANES, strict=True):
        expect(panel.get_by_role("heading", level=3)).to_have_text(label)
    coordinator = page.get_by_test_id("coordinator")
    expect(coordinator.get_by_role("heading", name="Synthesis")).to_be_visible()
    expect(coordinator).to_contain_text("no sandbox")

    # The lanes stream side by side: all three show log items while they are still running.
    page.wait_for_function(
        """() => {
            const lanes = [...document.querySelectorAll("[data-testid=lane]")];
            return lanes.length === 3 && lanes.every((lane) =>
                lane.querySelector("[data-testid=run-status]").textContent.trim() === "Running"
                && lane.querySelectorAll("ol.log > li.ev").length > 0);
        }""",
        polling="raf",
        timeout=GROUP_TIMEOUT,
    )
    expect(coordinator.get_by_test_id("run-status")).to_have_text("Queued")
    shot(page, "lanes-02-streaming")

    # ...then the coordinator finishes with a synthesis that names every lane.
    coordinator.locator("[data-run-finished]").wait_for(timeout=GROUP_TIMEOUT)
    expect(coordinator.get_by_test_id("run-status")).to_have_text("Succeeded")
    final = coordinator.get_by_test_id("final-output")
    for label in LANES:
        expect(final).to_contain_text(label)
    expect(final).to_contain_text("Offline demo synthesis")

    for panel in lane_panels(page).all():
        expect(panel.get_by_test_id("run-status")).to_have_text("Succeeded")
        expect(panel.get_by_test_id("final-output")).to_contain_text("Reviewed")
        expect(panel.locator("ol.log pre.cmd").first).to_be_visible()  # the shell it ran
        expect(panel.locator("[data-conn]")).to_have_text("finished")
    expect(coordinator.locator("[data-conn]")).to_have_text("finished")

    # Every lane, and the coordinator, streamed into its own log while it was running.
    streamed = page.evaluate("window.__streamed")
    assert len(streamed) == 4, streamed
    for path, seen in streamed.items():
        assert seen["whileRunning"] > 0, (path, seen)
        assert seen["statuses"][-1] == "Succeeded", (path, seen)
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "lanes-03-finished")

    # The whole group's usage line follows without a reload: once the last run has ended it
    # says what a reload says, and no longer "so far".
    usage = page.get_by_test_id("group-usage")
    expect(usage).not_to_contain_text("so far")
    expect(usage).to_contain_text("tokens")
    followed = usage.inner_text()
    page.reload()
    expect(page.get_by_test_id("group-usage")).to_have_text(followed)
    expect(page.locator("main")).not_to_contain_text("{#")  # no template comment shows

    # The group is listed on the presets page; bob cannot open it.
    page.get_by_role("navigation").get_by_role("link", name="Presets & lanes").click()
    # The newest first (other tests on this server may have launched reviews too).
    newest = page.get_by_role("link", name="Full-stack code review").first
    expect(newest).to_have_attribute("href", re.compile(r"/lanes/\d+/$"))
    assert group_url.endswith(newest.get_attribute("href"))
    bob = login(new_context(), "bob")
    assert bob.goto(group_url).status == 404
