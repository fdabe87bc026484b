"""Iterating with an agent, through a real browser against the real daphne server.

* A conversation: the demo agent builds a landing page, the preview runs beside the chat, two
  follow-ups change it, and each change hot-reloads the running app in place (the iframe is
  never reloaded: a marker set in its window survives).
* Approvals: with "ask before: shell commands" the run stops on each command with the exact
  command shown; approve one from the page, watch it run; reject another with a reason and
  the agent says so; a second tab sees every decision live.
* Versions: "refine" on a version card is a follow-up turn in that version's sandbox: its
  iframe hot-reloads and the card shows the new turn.

Screenshots at 1440x900 and 390x844 in test-artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Frame, Page, expect

from runs.demo import landing

from .conftest import (
    ARTIFACTS,
    RUN_TIMEOUT,
    alice_previews,
    follow_up,
    login,
    open_sandbox,
    shot,
    start_run,
    turn,
    wait_until_finished,
    wait_until_turn_finished,
)
from .test_versions import (
    APP_TIMEOUT,
    BUILD_TIMEOUT,
    failure_report,
    new_comparison,
    npm_works,  # noqa: F401  (a fixture)
    wait_for_versions,
)

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
BRIEF = "A landing page for a bakery in Lyon. List the croissants."
BLUE = "rgb(37, 99, 235)"  # landing.COLOURS["blue"]
NEW_HEADLINE = "Bread worth waking up for"
PREVIEW_TIMEOUT = 240_000  # npm install (cold cache on a fresh machine), then Vite


@pytest.fixture
def alice(new_context) -> Iterator[Page]:
    """alice at 1440x900; her previews (detached dev servers) are stopped afterwards."""
    page = login(new_context(), "alice")
    page.set_viewport_size(DESKTOP)
    yield page
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    for n, status in alice_previews(page).items():
        if status in ("starting", "ready"):
            page.request.post(f"/previews/{n}/stop/", headers={"X-CSRFToken": csrf})


def frame_of(page: Page, testid: str) -> Frame:
    frame = page.get_by_test_id(testid).element_handle().content_frame()
    assert frame is not None
    return frame


def mark(frame: Frame) -> None:
    """Set a marker in the app's window: a reload of the iframe would lose it."""
    frame.evaluate("window.__notReloaded = 'still here'")


def assert_not_reloaded(frame: Frame) -> None:
    assert frame.evaluate("window.__notReloaded") == "still here", "the iframe was reloaded"


# --- a conversation beside its preview ----------------------------------------------------------


@pytest.mark.usefixtures("npm_works")
def test_build_a_page_then_follow_up_twice_and_watch_the_preview_change(alice: Page):
    page = alice
    session_id = open_sandbox(page)
    first = start_run(page, BRIEF)
    wait_until_finished(page)
    expect(page.get_by_test_id("run-status")).to_have_text("Succeeded")
    expect(page.get_by_test_id("turn-of")).to_contain_text("Turn 1 of 1")
    expect(page.get_by_test_id("run-follow-up")).to_be_visible()
    shot(page, "conversation-01-run-page")

    # The conversation, and the app beside it.
    page.locator(".crumbs").get_by_role("link", name="conversation").click()
    page.wait_for_url(re.compile(rf"/sessions/{session_id}/\?thread=\d+#turn-{first}$"))
    expect(page.get_by_test_id("turn")).to_have_count(1)
    expect(turn(page, first).get_by_test_id("turn-prompt")).to_contain_text(BRIEF)
    page.get_by_test_id("start-preview").click()
    page.wait_for_url(re.compile(rf"/sessions/{session_id}/#session-preview$"))
    app = page.frame_locator("[data-testid=session-frame]")
    spec = landing.spec_from_brief(BRIEF)
    expect(app.get_by_test_id("demo-title")).to_have_text(spec["headline"], timeout=PREVIEW_TIMEOUT)
    expect(app.get_by_test_id("demo-feature").first).to_contain_text("Croissants")
    expect(app.get_by_test_id("demo-label")).to_have_text(landing.LABEL)
    header = app.get_by_test_id("demo-header")
    expect(header).to_have_css("background-color", "rgba(0, 0, 0, 0)")
    frame = frame_of(page, "session-frame")
    mark(frame)
    shot(page, "conversation-02-first-turn-and-preview")

    # Follow-up 1, at 1440x900: only the header's colour changes, live, in the same iframe.
    blue = follow_up(page, "make the header blue")
    expect(turn(page, blue).get_by_test_id("turn-prompt")).to_contain_text("turn 2")
    expect(page.locator("#follow-up-form button[type=submit]")).to_be_disabled()
    expect(header).to_have_css("background-color", BLUE, timeout=APP_TIMEOUT)
    wait_until_turn_finished(page, blue)
    answer = turn(page, blue).get_by_test_id("final-output")
    expect(answer).to_contain_text("Turn 2 of this conversation")
    expect(answer).to_contain_text("header colour: default → blue (#2563eb)")
    expect(app.get_by_test_id("demo-title")).to_have_text(spec["headline"])  # the rest stays
    assert_not_reloaded(frame)
    # The follow-up box comes back for turn 3, and the conversation's usage adds up.
    expect(page.locator("#follow-up-form button[type=submit]")).to_be_enabled()
    expect(page.get_by_test_id("thread-usage")).to_contain_text("Whole conversation:")
    shot(page, "conversation-03-header-blue-1440")

    # Follow-up 2, on a phone (390x844): the headline text, and nothing else.
    page.set_viewport_size(PHONE)
    retitle = follow_up(page, f'change the headline to "{NEW_HEADLINE}"')
    expect(app.get_by_test_id("demo-title")).to_have_text(NEW_HEADLINE, timeout=APP_TIMEOUT)
    wait_until_turn_finished(page, retitle)
    expect(turn(page, retitle).get_by_test_id("final-output")).to_contain_text(
        f"headline: “{spec['headline']}” → “{NEW_HEADLINE}”"
    )
    expect(header).to_have_css("background-color", BLUE)  # turn 2's change is kept
    assert_not_reloaded(frame)
    expect(page.get_by_test_id("turn")).to_have_count(3)
    usage = page.get_by_test_id("thread-usage").inner_text()
    total = int(re.search(r"Whole conversation: (\d+) tokens", usage).group(1))
    turns = [
        int(t.locator("[data-testid=usage] div:has(dt:text-is('Total')) dd").inner_text())
        for t in page.get_by_test_id("turn").all()
    ]
    assert total == sum(turns) and all(turns), (total, turns)
    turn(page, retitle).scroll_into_view_if_needed()
    shot(page, "conversation-04-headline-390")
    page.get_by_test_id("session-preview").scroll_into_view_if_needed()
    shot(page, "conversation-05-preview-390")

    # Turn 1's steps stream on demand (its details start closed).
    page.set_viewport_size(DESKTOP)
    steps = turn(page, first).locator("details.turn-steps")
    steps.locator("summary").click()
    expect(steps.locator("li.ev-tool").first).to_be_visible()
    expect(steps.locator("pre.diff").first).to_contain_text("+const page = {")

    # "New conversation": empty, on the same files (the app keeps running as it is).
    page.get_by_test_id("new-conversation").click()
    expect(page.get_by_test_id("turn")).to_have_count(0)
    expect(page.locator("#run-form")).to_be_visible()
    expect(
        page.frame_locator("[data-testid=session-frame]").get_by_test_id("demo-title")
    ).to_have_text(NEW_HEADLINE, timeout=APP_TIMEOUT)
    shot(page, "conversation-06-new-conversation")


# --- approvals ---------------------------------------------------------------------------------


def start_run_asking_first(page: Page, prompt: str) -> int:
    form = page.locator("#run-form")
    form.get_by_label("shell commands").check()
    return start_run(page, prompt)


def pending_approval(page: Page):
    return page.get_by_test_id("approval")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1440", "390"])
def test_approve_and_reject_commands_from_the_page(new_context, viewport):
    page = login(new_context(), "alice")
    page.set_viewport_size(viewport)
    size = viewport["width"]
    other_tab = page.context.new_page()  # alice in a second tab
    other_tab.set_viewport_size(viewport)
    session_id = open_sandbox(page)
    run_id = start_run_asking_first(page, BRIEF)

    # The agent stops on its first command: the exact command, and the choice.
    box = pending_approval(page)
    expect(box).to_be_visible(timeout=RUN_TIMEOUT)
    expect(page.get_by_test_id("run-status")).to_have_text("Awaiting approval")
    expect(page.get_by_test_id("awaiting-note")).to_contain_text("Nothing runs")
    command = page.locator(f"#run-{run_id}-log li.ev-tool").last
    expect(command.locator("pre.cmd")).to_contain_text("pwd && ls -la && find .")
    expect(command.locator("pre.out")).to_have_text("not run: waiting for a decision")
    other_tab.goto(f"/runs/{run_id}/")
    expect(pending_approval(other_tab)).to_be_visible()
    shot(page, f"approvals-01-pending-{size}")

    box.get_by_test_id("approve").click()
    expect(command.get_by_test_id("approval-decision")).to_contain_text("Approved by alice")
    expect(command.locator(".out-meta")).to_contain_text("exit 0")  # it ran
    expect(command.locator("pre.out")).to_contain_text("./src/App.tsx")
    # The other tab heard the decision, live.
    expect(other_tab.get_by_test_id("approval-decision").first).to_contain_text("Approved by alice")

    # The next command (reading App.tsx) asks too; reject it with a reason.
    second = page.locator(f"#run-{run_id}-log li.ev-tool").nth(1)
    expect(second.get_by_test_id("approval")).to_be_visible(timeout=RUN_TIMEOUT)
    expect(second.locator("pre.cmd")).to_contain_text("src/App.tsx")
    second.get_by_label("Reason").fill("do not read files today")
    shot(page, f"approvals-02-second-command-{size}")
    second.get_by_test_id("reject").click()
    expect(second.get_by_test_id("approval-decision")).to_contain_text(
        "Rejected by alice: “do not read files today”"
    )
    wait_until_finished(page)
    expect(page.get_by_test_id("run-status")).to_have_text("Succeeded")
    expect(second.locator("pre.out")).to_contain_text(
        "alice rejected this call; it did not run. Their reason: do not read files today"
    )
    expect(page.get_by_test_id("final-output")).to_contain_text(
        "You rejected reading src/App.tsx, so I stopped there"
    )
    expect(other_tab.get_by_test_id("run-status")).to_have_text("Succeeded")
    shot(page, f"approvals-03-rejected-and-finished-{size}")

    # Approve all shell commands for the next turn's run: it then finishes on its own.
    page.goto(f"/sessions/{session_id}/")
    form = page.locator("#follow-up-form")
    expect(form.get_by_label("shell commands")).to_be_checked()  # kept from the last turn
    nxt = follow_up(page, BRIEF)
    box = turn(page, nxt).get_by_test_id("approval")
    expect(box).to_be_visible(timeout=RUN_TIMEOUT)
    expect(page.get_by_test_id("follow-up-busy")).to_contain_text("waiting for your approval")
    shot(page, f"approvals-04-in-conversation-{size}")
    box.get_by_test_id("approve-all").click()
    wait_until_turn_finished(page, nxt)
    expect(turn(page, nxt).get_by_test_id("run-status")).to_have_text("Succeeded")
    decisions = turn(page, nxt).get_by_test_id("approval-decision")
    expect(decisions).to_have_count(1)  # one decision covered every later command
    expect(decisions).to_contain_text(
        "the rest of this run's shell commands go ahead without asking"
    )
    expect(turn(page, nxt).get_by_test_id("final-output")).to_contain_text(
        "I built a landing page for “Lyon Bakery”"
    )


def test_bob_cannot_see_or_decide_alices_approvals(new_context, bob_page):
    page = login(new_context(), "alice")
    open_sandbox(page)
    run_id = start_run_asking_first(page, BRIEF)
    expect(pending_approval(page)).to_be_visible(timeout=RUN_TIMEOUT)
    approval = pending_approval(page).locator("form").get_attribute("action")

    response = bob_page.goto(f"/runs/{run_id}/")
    assert response.status == 404
    csrf = next(c["value"] for c in bob_page.context.cookies() if c["name"] == "csrftoken")
    refused = bob_page.request.post(
        approval, form={"decision": "approve"}, headers={"X-CSRFToken": csrf}
    )
    assert refused.status == 404
    page.reload()
    expect(pending_approval(page)).to_be_visible()
    expect(page.get_by_test_id("run-status")).to_have_text("Awaiting approval")
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("run-status")).to_have_text("Cancelled")
    expect(page.get_by_test_id("approval-decision")).to_contain_text("Cancelled")


# --- versions iterate ---------------------------------------------------------------------------


@pytest.mark.usefixtures("npm_works")
def test_refine_a_version_hot_reloads_its_preview_and_the_card_follows(alice: Page):
    page = alice
    new_comparison(page)
    stages = wait_for_versions(page, 2)
    assert stages == ["Ready", "Ready"], failure_report(page)
    cards = page.get_by_test_id("version")
    frames = page.frame_locator("[data-testid=version-frame]")
    expect(frames.nth(0).get_by_test_id("demo-title")).to_be_visible(timeout=APP_TIMEOUT)
    first = cards.nth(0).get_by_test_id("version-frame").element_handle().content_frame()
    other = cards.nth(1).get_by_test_id("version-frame").element_handle().content_frame()
    mark(first)
    mark(other)
    other_header = frames.nth(1).get_by_test_id("demo-header")
    other_colour = other_header.evaluate("e => getComputedStyle(e).backgroundColor")

    card = cards.nth(0)
    card.get_by_label("Refine").fill("make the header blue")
    card.get_by_test_id("refine").click()
    expect(card.get_by_test_id("version-prompt")).to_contain_text("turn 2")
    expect(card.get_by_test_id("version-prompt")).to_contain_text("make the header blue")
    expect(frames.nth(0).get_by_test_id("demo-header")).to_have_css(
        "background-color", BLUE, timeout=APP_TIMEOUT
    )
    expect(card.get_by_test_id("version-run-status")).to_have_text("Succeeded", timeout=RUN_TIMEOUT)
    expect(card.get_by_test_id("version-summary")).to_contain_text("header colour: default → blue")
    expect(card.get_by_test_id("version-tokens")).to_contain_text("over 2 turns")
    assert_not_reloaded(first)  # hot reload, not a reload: the card's polling left it alone
    assert_not_reloaded(other)
    expect(other_header).to_have_css("background-color", other_colour)  # the other is as it was
    shot(page, "versions-refined-1440")
    card.screenshot(path=str(ARTIFACTS / "versions-refined-card-1440.png"))
    page.set_viewport_size(PHONE)
    card.scroll_into_view_if_needed()
    shot(page, "versions-refined-390")

    # The card links to the version's turn history: its conversation.
    page.set_viewport_size(DESKTOP)
    card.get_by_test_id("version-history").click()
    expect(page.get_by_test_id("turn")).to_have_count(2, timeout=BUILD_TIMEOUT)
    expect(page.get_by_test_id("turn").nth(1)).to_contain_text("make the header blue")
