"""Every page of the dashboard on a phone (390x844) and a laptop (1440x900), in a real browser.

alice walks the product as a new user would: a sandbox, a demo run, the workspace, agents,
presets, a lane group, two versions side by side with their previews, a share link opened logged
out. On every page at 390 px the document must not scroll sideways (its scrollWidth is at most
the window's width). Each page is screenshotted at both sizes (test-artifacts/page-*.png).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import (
    click_and_confirm,
    context_factory,
    login,
    open_sandbox,
    serve_dashboard,
    shot,
    start_run,
    starter_card,
    wait_until_finished,
)

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1440, "height": 900}
GROUP_TIMEOUT = 120_000
BUILD_TIMEOUT = 300_000

OVERFLOW_JS = """() => {
    const doc = document.scrollingElement;
    const wide = [...document.querySelectorAll("body *")]
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
        .filter((el) => !el.closest("[data-overflow-ok]"))
        .slice(0, 5)
        .map((el) => el.tagName.toLowerCase() + (el.className ? "." + el.className : ""));
    return {scrollWidth: doc.scrollWidth, innerWidth: window.innerWidth, wide};
}"""


class Tour:
    """Visits pages, measuring each at phone width and screenshotting it at both sizes."""

    def __init__(self, page: Page):
        self.page = page
        self.overflowing: dict[str, dict] = {}
        self.visited: list[str] = []

    def visit(self, name: str, path: str | None = None) -> None:
        page = self.page
        if path is not None:
            page.goto(path)
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(150)  # a relayout, and htmx's settle
        measured = page.evaluate(OVERFLOW_JS)
        if measured["scrollWidth"] > measured["innerWidth"]:
            self.overflowing[f"{name} ({page.url})"] = measured
        shot(page, f"page-{name}-390")
        page.set_viewport_size(LAPTOP)
        shot(page, f"page-{name}-1440")
        self.visited.append(name)


@pytest.fixture
def walk_context(browser, page_errors, tmp_path_factory):
    """Browser contexts on a dashboard of this test's own: the walk counts previews, lanes and
    sandboxes, and deletes its own, whatever the other browser tests leave on theirs."""
    with serve_dashboard(tmp_path_factory.mktemp("walk")) as (base_url, _env, _log):
        with context_factory(browser, page_errors) as make:
            yield lambda: make(base_url)


def test_a_new_users_walk_fits_a_phone_and_each_next_step_works(walk_context):
    new_context = walk_context
    context = new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = login(context, "alice")
    tour = Tour(page)
    tour.visit("login-home", "/")

    # Starters: the list, one starter, a new one, an own copy and its editor.
    tour.visit("starters", "/manifests/")
    tour.visit("starter-new", "/manifests/new/")
    page.goto("/")
    starter_card(page).click()
    page.wait_for_url(re.compile(r"/manifests/\d+/$"))
    manifest_url = page.url
    tour.visit("starter")
    tour.visit("compare-new", f"{manifest_url}compare/")
    # Two version slots to start with; more on demand.
    slots = page.locator("[data-slot]:visible")
    expect(slots).to_have_count(2)
    page.get_by_test_id("add-version-slot").click()
    expect(slots).to_have_count(3)

    # A sandbox, a run in it, its workspace.
    session_id = open_sandbox(page)
    session_url = f"/sessions/{session_id}/"
    run_id = start_run(page, "A landing page for a bike repair shop")
    wait_until_finished(page)
    tour.visit("run", f"/runs/{run_id}/")
    tour.visit("session", session_url)
    tour.visit("sessions", "/sessions/")
    tour.visit("workspace", f"{session_url}workspace/")
    tour.visit("workspace-file", f"{session_url}workspace/file/?path=src/App.tsx")
    tour.visit("workspace-changes", f"{session_url}workspace/changes/")
    tour.visit("workspace-console", f"{session_url}workspace/console/")

    # Agents, presets, a lane group.
    tour.visit("agents", "/agents/")
    tour.visit("agent-new", "/agents/new/")
    tour.visit("lane-new", "/lanes/new/")
    tour.visit("presets", "/presets/")
    review = page.locator(
        "section.card", has=page.get_by_role("heading", name="Full-stack code review")
    )
    review.get_by_test_id("launch-code-review").click()
    page.wait_for_url(re.compile(r"/lanes/\d+/$"))
    page.locator("[data-testid=coordinator] [data-run-finished]").wait_for(timeout=GROUP_TIMEOUT)
    tour.visit("lanes")
    group_url = page.url
    expect(page.get_by_test_id("cancel-group")).to_have_count(0)  # every lane has ended

    # Two versions side by side, one's preview, a share link opened logged out.
    page.goto(f"{manifest_url}compare/")
    for i, prompt in enumerate(("A page for a bakery", "A purple page for a bakery"), 1):
        page.locator(f"textarea[name=prompt_{i}]").fill(prompt)
    page.locator('button:has-text("Build versions")').click()
    page.wait_for_url(re.compile(r"/comparisons/\d+/$"))
    comparison_url = page.url
    tour.visit("comparison-building")
    # Each version's sandbox, run, npm install and Vite; then its preview's own page.
    stages = page.get_by_test_id("version-stage")
    expect(stages).to_have_text(["Ready", "Ready"], timeout=BUILD_TIMEOUT)
    expect(page.get_by_test_id("version-frame")).to_have_count(2)
    tour.visit("comparison")
    # A refused refine (nothing written) changes its card's facts only (tests/e2e/test_refusals).
    first = page.get_by_test_id("version").first
    refine = first.locator("form.refine")
    refine.locator("textarea[name=prompt]").evaluate("(el) => { el.required = false; }")
    refine.get_by_test_id("refine").click()
    expect(first.locator("form.refine")).to_contain_text("Write what to change in this version.")
    expect(page.locator("header.topbar")).to_have_count(1)
    expect(first.get_by_test_id("version-frame")).to_be_visible()
    preview_id = next(n for n in range(1, 20) if page.request.get(f"/previews/{n}/").ok)
    tour.visit("preview", f"/previews/{preview_id}/")
    # Its sandbox's page shows it inline, offers to open or restart it, never a second one.
    page.locator(".crumbs a[href^='/sessions/']").last.click()
    expect(page.get_by_test_id("session-frame")).to_be_visible()
    expect(page.get_by_test_id("open-preview")).to_be_visible()
    expect(page.get_by_test_id("restart-preview")).to_be_visible()
    expect(page.get_by_test_id("start-preview")).to_have_count(0)
    tour.visit("session-with-preview")
    tour.visit("comparisons", "/comparisons/")
    page.goto(comparison_url)
    custom_hours = page.locator(".share-form .custom-hours")
    expect(custom_hours).to_be_hidden()  # until "Custom" is chosen
    page.locator(".share-form select[name=expiry]").select_option("custom")
    expect(custom_hours).to_be_visible()
    page.locator(".share-form select[name=expiry]").select_option("24h")
    page.get_by_role("button", name="Create share link").click()
    share_url = page.get_by_test_id("share-url").first.input_value()
    page.get_by_test_id("copy-share").first.click()
    expect(page.get_by_test_id("copy-share").first).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == share_url
    tour.visit("comparison-shared")

    outsider = new_context().new_page()
    outsider.goto(share_url)
    expect(outsider.get_by_test_id("version")).to_have_count(2)
    outsider_tour = Tour(outsider)
    outsider_tour.visit("share")
    # One version full width, then its app full size in a tab of its own (the share's grant).
    shared = outsider.get_by_test_id("version").first
    shared.get_by_test_id("focus").click()
    expect(outsider.locator("[data-testid=version]:visible")).to_have_count(1)
    outsider_tour.visit("share-focus")
    with outsider.expect_popup() as opened:
        outsider.locator("[data-testid=version]:visible").get_by_test_id("open-full").click()
    full = opened.value
    expect(full.get_by_test_id("demo-title")).to_be_visible(timeout=60_000)
    shot(full, "page-share-full-size-1440")
    outsider_tour.visit("login", "/login/")
    tour.overflowing.update(outsider_tour.overflowing)

    # Cleaning up after the walk, from the pages, each with a confirmation. The outsider's
    # windows go first: the walk's own page is the one in front again.
    outsider.context.close()
    page.bring_to_front()
    page.goto(comparison_url)
    click_and_confirm(page, page.get_by_test_id("delete-comparison"))
    page.wait_for_url(re.compile(r"/comparisons/$"))
    expect(page.locator(".messages")).to_contain_text("was deleted with its share links")
    page.goto(group_url)
    click_and_confirm(page, page.get_by_test_id("delete-group"))
    page.wait_for_url(re.compile(r"/presets/$"))
    page.goto(session_url)
    click_and_confirm(page, page.get_by_test_id("delete-session"))
    page.wait_for_url(re.compile(r"/sessions/$"))
    expect(page.locator(".messages")).to_contain_text("was deleted with its runs and workspace")
    assert page.request.get(session_url).status == 404

    assert not tour.overflowing, f"pages wider than a phone: {tour.overflowing}"
