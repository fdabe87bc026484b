"""A refused htmx form changes only itself, in a real browser against the real daphne.

Every htmx form of the session and run pages is sent twice in ways the server refuses: once with
bad input (the view answers with the form's own fragment, its errors in place) and once with an
expired CSRF token (Django answers with a whole error page). Either way the page keeps its
navigation and styles, the form shows why, and nothing was created.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import open_sandbox, start_run, wait_until_finished

pytestmark = pytest.mark.e2e

EXPIRED = "Refused: the form had expired"


def assert_page_intact(page: Page) -> None:
    """One top bar, styled: the document was not replaced by a bare answer."""
    expect(page.locator("header.topbar")).to_have_count(1)
    expect(page.locator("main.page")).to_have_count(1)
    expect(page.locator("header.topbar")).to_have_css("background-color", "rgb(16, 24, 40)")


def send_blank(page: Page, form_selector: str, button: str) -> None:
    """Submit `form_selector` with an empty prompt (the browser's own `required` check off)."""
    form = page.locator(form_selector)
    form.locator("textarea[name=prompt]").evaluate(
        "(el) => { el.required = false; el.value = '  '; }"
    )
    form.get_by_role("button", name=button).click()


def expire_csrf(page: Page) -> None:
    """As if the tab outlived its session: every token the page holds is stale."""
    page.evaluate(
        """() => {
            document.body.setAttribute("hx-headers", '{"x-csrftoken": "stale"}');
            document.querySelectorAll("input[name=csrfmiddlewaretoken]")
                .forEach((el) => { el.value = "stale"; });
            document.cookie = "csrftoken=stale-and-different; path=/";
        }"""
    )


def test_refused_forms_show_why_in_place(alice_page: Page):
    page = alice_page
    session_id = open_sandbox(page)
    session_url = page.url

    # The first run's form, bad input: its own errors, in place.
    send_blank(page, "#run-form", "Start run")
    expect(page.locator("#run-form")).to_contain_text("Write a prompt for the agent.")
    assert_page_intact(page)
    assert page.url == session_url

    # The same form with a stale token: a whole 403 page came back; only its message shows.
    page.locator("#run-form textarea[name=prompt]").fill("A page for a florist")
    expire_csrf(page)
    page.locator("#run-form").get_by_role("button", name="Start run").click()
    expect(page.locator("#run-form").get_by_test_id("refusal")).to_contain_text(EXPIRED)
    expect(page.locator("#run-form textarea[name=prompt]")).to_have_value("A page for a florist")
    assert_page_intact(page)

    # A real run, then the run page's follow-up box.
    page.reload()
    run_id = start_run(page, "A page for a florist")
    wait_until_finished(page)
    follow = page.get_by_test_id("run-follow-up")
    expect(follow.locator("textarea[name=prompt]")).to_be_visible()
    follow.locator("textarea[name=prompt]").fill("Make it green")
    expire_csrf(page)
    follow.get_by_role("button", name="Send").click()
    expect(follow.get_by_test_id("refusal")).to_contain_text(EXPIRED)
    assert_page_intact(page)
    assert page.url.endswith(f"/runs/{run_id}/")

    # The session page's follow-up box: bad input, then a stale token.
    page.goto(session_url)
    send_blank(page, "#follow-up-form", "Send")
    expect(page.locator("#follow-up")).to_contain_text("Write what the agent should do next.")
    assert_page_intact(page)
    expect(page.get_by_test_id("turn")).to_have_count(1)
    page.locator("#follow-up-form textarea[name=prompt]").fill("Make it green")
    expire_csrf(page)
    page.locator("#follow-up-form").get_by_role("button", name="Send").click()
    expect(page.locator("#follow-up-form").get_by_test_id("refusal")).to_contain_text(EXPIRED)
    assert_page_intact(page)
    expect(page.get_by_test_id("turn")).to_have_count(1)

    # Nothing was created by any of them: one run on this sandbox.
    page.reload()
    expect(page.locator("#session-runs tbody tr")).to_have_count(1)
    assert re.search(rf"/sessions/{session_id}/$", page.url)


def test_a_refused_approval_and_cancel_keep_the_run_page(alice_page: Page):
    """The approval form and the Cancel button (htmx, no page of their own to fall back on)."""
    page = alice_page
    open_sandbox(page)
    page.locator("#run-form").get_by_label("shell commands").check()
    start_run(page, "A page for a florist")
    box = page.get_by_test_id("approval").first
    expect(box).to_be_visible(timeout=60_000)

    expire_csrf(page)
    box.get_by_test_id("approve").click()
    expect(box.get_by_test_id("refusal")).to_contain_text(EXPIRED)
    expect(box.get_by_test_id("approve")).to_be_visible()  # nothing decided: still asking
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("refusal").last).to_contain_text(EXPIRED)
    assert_page_intact(page)
    expect(page.get_by_test_id("run-status")).to_have_text("Awaiting approval")

    # A fresh page (fresh tokens) decides it as usual.
    page.reload()
    page.get_by_test_id("approval").first.get_by_test_id("approve").click()
    expect(page.get_by_test_id("approval-decision").first).to_contain_text("Approved by alice")
