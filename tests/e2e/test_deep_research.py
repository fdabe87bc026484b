"""Deep research with no key, in a real browser: the preset's built-in offline docs server,
the offline demo model as a researcher (search, then fetch, then notes), an answer that cites
the documents it fetched."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import shot

pytestmark = pytest.mark.e2e

QUESTION = "How do I connect an MCP server over streamable HTTP?"
RESEARCH_TIMEOUT = 120_000


def test_deep_research_runs_offline_and_cites_its_sources(alice_page: Page):
    page = alice_page
    page.get_by_role("navigation").get_by_role("link", name="Presets & lanes").click()
    research = page.locator("section.card", has=page.get_by_role("heading", name="Deep research"))
    expect(research.locator("input[name=research-model]")).to_have_value("demo")
    builtin = research.get_by_label("Offline docs search (built-in)")
    expect(builtin).to_be_checked()  # the default: no key, no network needed
    research.locator("textarea[name=research-question]").fill(QUESTION)
    shot(page, "deep-research-form")
    research.get_by_test_id("launch-deep-research").click()
    page.wait_for_url(re.compile(r"/runs/\d+/$"))

    page.locator("[data-run-finished]").wait_for(timeout=RESEARCH_TIMEOUT)
    expect(page.get_by_test_id("run-status")).to_have_text("Succeeded")
    log = page.get_by_test_id("run-log")
    expect(log.locator(".ev-mcp")).to_contain_text("built-in (offline docs corpus)")
    # textContent, not innerText: steps scrolled out of view are not laid out
    # (content-visibility), so their innerText is empty while the text is there.
    tools = log.locator("li.ev-tool .ev-label").all_text_contents()
    assert [t.lower() for t in tools[:4]] == [
        "mcp · docs · search",
        "mcp · docs · fetch",
        "mcp · docs · fetch",
        "mcp · docs · fetch",
    ], tools
    expect(log.locator("li.ev-search .out")).to_contain_text("results for")

    answer = page.get_by_test_id("final-output")
    expect(answer).to_contain_text("Sources (fetched with the MCP fetch tool):")
    mcp_docs = "https://openai.github.io/openai-agents-python/mcp/"
    expect(answer.locator(f'a[href="{mcp_docs}"]')).to_have_text(mcp_docs)  # a link
    # Every source it lists is a document it fetched (each fetch's output names its Source).
    fetch_outputs = "\n".join(log.locator("li.ev-fetch .out").all_text_contents())
    fetched = set(re.findall(r"(?m)^Source: (\S+)$", fetch_outputs))
    listed = set(re.findall(r"(?m)^\[\d\] .+? — (\S+)$", answer.inner_text()))
    assert listed and listed == fetched, (listed, fetched)
    shot(page, "deep-research-run")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "deep-research-run-phone")


ANGLES_QUESTION = "What does the Agents SDK give me?"
ANGLES = ["Function tools: the function_tool decorator", "Tracing: traces, spans and processors"]


def test_deep_research_with_two_angles_runs_researcher_lanes_and_merges_their_sources(
    alice_page: Page,
):
    page = alice_page
    page.get_by_role("navigation").get_by_role("link", name="Presets & lanes").click()
    research = page.locator("section.card", has=page.get_by_role("heading", name="Deep research"))
    research.locator("textarea[name=research-question]").fill(ANGLES_QUESTION)
    research.locator("textarea[name=research-angles]").fill("\n".join(ANGLES))
    shot(page, "deep-research-angles-form")
    research.get_by_test_id("launch-deep-research").click()
    page.wait_for_url(re.compile(r"/lanes/\d+/$"))

    coordinator = page.get_by_test_id("coordinator")
    coordinator.locator("[data-run-finished]").wait_for(timeout=RESEARCH_TIMEOUT)
    expect(coordinator.get_by_test_id("run-status")).to_have_text("Succeeded")
    expect(coordinator.locator("li.ev-lane-call")).to_have_count(2)
    calls = page.get_by_test_id("lane-call")
    expect(calls).to_have_count(2)
    fetched: set[str] = set()
    for i in range(2):
        call = calls.nth(i)
        call.locator("[data-run-finished]").wait_for(timeout=RESEARCH_TIMEOUT)
        expect(call.get_by_test_id("run-status")).to_have_text("Succeeded")
        outputs = "\n".join(call.locator("li.ev-fetch .out").all_text_contents())
        found = set(re.findall(r"(?m)^Source: (\S+)$", outputs))
        assert len(found) == 3, found  # each researcher fetched through the docs server
        fetched |= found

    answer = coordinator.get_by_test_id("final-output")
    expect(answer).to_contain_text("Sources (fetched by the research lanes")
    text = answer.inner_text()
    listed = re.findall(r"(?m)^\[(\d+)\] .+? — (\S+)$", text)
    assert {url for _, url in listed} == fetched, (listed, fetched)
    assert [int(n) for n, _ in listed] == list(range(1, len(fetched) + 1))
    tracing = "https://openai.github.io/openai-agents-python/tracing/"
    expect(answer.locator(f'a[href="{tracing}"]')).to_have_text(tracing)
    shot(page, "deep-research-angles")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "deep-research-angles-phone")
