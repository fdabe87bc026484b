"""A paused sandbox's page says so once, the same way everywhere, and offers Resume; after
Resume everything is offered again. In a real browser against the real daphne."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .conftest import open_sandbox, shot

pytestmark = pytest.mark.e2e

PAUSED = "This sandbox is paused: resume it to run agents, previews and commands again."


def test_pause_then_resume_the_page_never_contradicts_itself(alice_page: Page):
    page = alice_page
    open_sandbox(page)
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_test_id("session-status")).to_have_text("Paused")
    expect(page.get_by_text(PAUSED)).to_have_count(3)  # conversation, preview, files
    expect(page.get_by_text("open a new one from its starter")).to_have_count(0)
    expect(page.get_by_test_id("start-preview")).to_have_count(0)
    expect(page.locator("#run-form")).to_have_count(0)
    expect(page.get_by_test_id("workspace-closed")).to_be_visible()
    shot(page, "states-paused")

    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("session-status")).to_have_text("Running")
    expect(page.get_by_text(PAUSED)).to_have_count(0)
    expect(page.locator("#run-form")).to_be_visible()
    expect(page.get_by_test_id("start-preview")).to_be_visible()
    expect(page.get_by_test_id("workspace-link")).to_be_visible()
    expect(page.get_by_test_id("time-left")).to_contain_text("Pauses when idle: 30 min left")
