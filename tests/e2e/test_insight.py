"""Run insight in a real browser: the timeline of a demo run (live, then finished; a bar
scrolls to its step), the runs page finding it by a word of its prompt, replay, and an export
imported back as a read-only run. Screenshots at 1440x900 and 390x844."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import login, open_sandbox, shot, start_run, wait_until_finished

pytestmark = pytest.mark.e2e

PROMPT = "A landing page for a bicycle repair collective with opening hours."


def test_timeline_runs_page_replay_and_import(new_context, tmp_path):
    context = new_context()
    page = login(context, "alice")
    page.set_viewport_size({"width": 1440, "height": 900})
    open_sandbox(page)
    run_id = start_run(page, PROMPT)
    timeline = page.get_by_test_id("timeline")
    bars = timeline.get_by_test_id("timeline-bar")
    # Live: bars appear while the run streams, without a reload.
    expect(bars.first).to_be_visible(timeout=30_000)
    wait_until_finished(page)
    log = page.locator(f"#run-{run_id}-log")
    steps = log.locator("li.ev-response, li.ev-tool")
    step_count = steps.count()
    expect(bars).to_have_count(step_count)
    assert step_count >= 3
    expect(timeline.get_by_test_id("bar-cost").first).to_have_text("$0.00")  # demo: price 0
    expect(page.get_by_test_id("run-cost")).to_have_text("$0.00")
    shot(page, "insight-01-run-timeline-1440")

    # A bar scrolls its step into view and marks it.
    bar = bars.last
    seq = bar.get_attribute("data-seq")
    page.evaluate("window.scrollTo(0, 0)")
    bar.click()
    step = page.locator(f"#run-{run_id}-ev-{seq}")
    expect(step).to_be_in_viewport()
    expect(step).to_have_class(re.compile(r"\bev-flash\b"))

    # Replay, step by step, then at 16x: the log is rebuilt, in the same order.
    seqs = log.evaluate("ol => [...ol.children].map(li => li.dataset.seq)")
    page.get_by_test_id("replay").get_by_role("button", name="Step").click()
    expect(log.locator("> li")).to_have_count(1)
    page.get_by_test_id("replay").locator("button[data-speed='16']").click()
    expect(log.locator("> li")).to_have_count(len(seqs), timeout=30_000)
    assert log.evaluate("ol => [...ol.children].map(li => li.dataset.seq)") == seqs
    expect(page.get_by_test_id("run-status")).to_have_text("Succeeded")

    # The runs page finds it by a word of its prompt.
    page.goto("/runs/")
    page.get_by_test_id("run-search").fill("bicycle")
    page.get_by_test_id("run-search").press("Enter")
    expect(page.get_by_test_id("run-row")).to_have_count(1)
    expect(page.get_by_test_id("run-row")).to_have_attribute("data-run", str(run_id))
    shot(page, "insight-02-runs-page-1440")

    # Share it: anyone with the link sees the log, timeline and result, and no control.
    page.goto(f"/runs/{run_id}/")
    page.locator(f"form[action$='/share/run/{run_id}/']").get_by_role("button").click()
    link = page.get_by_test_id("share-url").first.input_value()
    viewer = new_context().new_page()
    viewer.set_viewport_size({"width": 1440, "height": 900})
    viewer.goto(link)
    expect(viewer.get_by_test_id("timeline-bar")).to_have_count(step_count)
    expect(viewer.locator(f"#run-{run_id}-log > li.ev-tool").first).to_be_visible()
    expect(viewer.get_by_test_id("final-output")).to_contain_text("Bicycle Repair Collective")
    expect(viewer.locator("form")).to_have_count(0)
    expect(viewer.get_by_test_id("cancel")).to_have_count(0)
    shot(viewer, "insight-05-shared-run-1440")

    # Export, then import the file: a read-only run with the same timeline.
    page.goto(f"/runs/{run_id}/")
    with page.expect_download() as download:
        page.get_by_test_id("export-run").click()
    path = tmp_path / "run.json"
    download.value.save_as(path)
    page.goto("/runs/import/")
    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    expect(page.get_by_test_id("imported-note")).to_be_visible()
    expect(page.get_by_test_id("timeline-bar")).to_have_count(step_count)
    expect(page.get_by_test_id("run-status")).to_have_text("Succeeded")
    expect(page.get_by_test_id("cancel")).to_have_count(0)

    # A bad file says what is wrong.
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    page.goto("/runs/import/")
    page.locator("input[type=file]").set_input_files(str(bad))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_test_id("import-error")).to_contain_text("not valid JSON")

    # Phones: the same pages at 390x844.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/runs/{run_id}/")
    expect(bars.first).to_be_visible()
    shot(page, "insight-03-run-timeline-390")
    page.goto("/runs/")
    shot(page, "insight-04-runs-page-390")
