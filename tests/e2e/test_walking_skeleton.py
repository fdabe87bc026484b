"""The walking skeleton, through a real browser against the real daphne server.

Log in, open a sandbox from the Vite starter, run the offline demo agent and watch it stream;
other people can't see any of it; anonymous visitors are sent to the login page; and a dropped
websocket resumes without losing or repeating a single event.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import (
    RUN_TIMEOUT,
    PageErrors,
    login,
    open_sandbox,
    shot,
    start_run,
    starter_card,
    wait_until_finished,
)

pytestmark = pytest.mark.e2e

PROMPT = "A dark dashboard for a green tea shop. Show today's teas and a loyalty counter."
HEADLINE = "A dark dashboard for a green tea shop"
BRAND = "Green Tea Shop"  # the demo's landing page is named after the brief's subject


# --- steps shared by the tests ------------------------------------------------------------------


def wait_for_first_event_while_running(page: Page, run_id: int) -> int:
    """Poll every frame until the log has an item while the status still says Running."""
    page.wait_for_function(
        """(runId) => {
            const status = document.querySelector("[data-testid=run-status]");
            const items = document.querySelectorAll(`#run-${runId}-log > li.ev`);
            return items.length > 0 && status && status.textContent.trim() === "Running";
        }""",
        arg=run_id,
        polling="raf",
        timeout=RUN_TIMEOUT,
    )
    return page.locator(f"#run-{run_id}-log > li.ev").count()


def usage(page: Page, label: str) -> int:
    value = page.locator(f'[data-testid=usage] div:has(dt:text-is("{label}")) dd')
    return int(value.inner_text().strip())


def log_seqs(page: Page, run_id: int) -> list[int]:
    return page.eval_on_selector_all(
        f"#run-{run_id}-log > li", "items => items.map(li => Number(li.dataset.seq))"
    )


OPEN_SOCKET_JS = """
(path) => new Promise((resolve) => {
    const result = { opened: false, code: null, messages: 0, timedOut: false };
    const socket = new WebSocket(`ws://${location.host}${path}`);
    socket.onopen = () => {
        result.opened = true;
        socket.send(JSON.stringify({ type: "resume", after: 0 }));
    };
    socket.onmessage = () => { result.messages += 1; };
    socket.onclose = (event) => { result.code = event.code; resolve(result); };
    setTimeout(() => { result.timedOut = true; socket.close(); resolve(result); }, 5000);
})
"""


@pytest.fixture(scope="module")
def alice_run(browser, server) -> dict[str, int]:
    """One of alice's sandboxes with one finished run, for the tests that need her ids."""
    context = browser.new_context(base_url=server)
    context.set_default_timeout(15_000)
    errors = PageErrors()
    context.on("page", errors.watch)
    try:
        page = login(context, "alice")
        session_id = open_sandbox(page)
        run_id = start_run(page, "A plain page for the isolation checks")
        wait_until_finished(page)
        expect(page.get_by_test_id("run-status")).to_have_text("Succeeded")
    finally:
        context.close()
    assert not errors, errors
    return {"session": session_id, "run": run_id}


# --- the tests ----------------------------------------------------------------------------------


def test_click_through(new_context):
    page = new_context().new_page()
    page.goto("/login/")
    shot(page, "01-login")
    page = login(page.context, "alice")

    # Home: the steps and the built-in starter.
    expect(starter_card(page)).to_be_visible()
    shot(page, "02-home")

    # Starter page lists its files; create a local sandbox from it.
    session_id = open_sandbox(page, screenshots=True)
    shot(page, "04-session-running")

    # Start a run with the offline demo model.
    run_id = start_run(page, PROMPT, screenshots=True)
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Run #{run_id}")
    expect(page.locator("blockquote.prompt")).to_contain_text(HEADLINE)

    # Events stream in while the run is still running.
    first_count = wait_for_first_event_while_running(page, run_id)
    expect(page.locator("[data-conn]")).to_have_text("live")
    shot(page, "06-run-streaming")

    wait_until_finished(page)
    expect(page.get_by_test_id("run-status")).to_have_text("Succeeded")
    expect(page.get_by_test_id("final-output")).to_contain_text(f"landing page for “{BRAND}”")
    assert usage(page, "Requests") > 0
    assert usage(page, "Total") > 0
    log = page.locator(f"#run-{run_id}-log")
    assert log.locator("> li.ev").count() > first_count
    expect(log.locator("pre.cmd").first).to_be_visible()
    expect(log.locator("pre.diff")).to_contain_text("+const page = {")
    expect(page.locator("[data-conn]")).to_have_text("finished")
    expect(page.locator("[data-empty-hint]")).to_be_hidden()
    assert len(set(log_seqs(page, run_id))) == log.locator("> li").count()
    shot(page, "07-run-finished")

    # Back on the session page: the run is listed and the workspace still has the app.
    page.locator(f'.crumbs a[href="/sessions/{session_id}/"]').click()
    page.wait_for_url(re.compile(rf"/sessions/{session_id}/$"))
    files = page.locator("ul.files code").all_inner_texts()
    assert "src/App.tsx" in files, files
    runs_table = page.locator("table.table")
    expect(runs_table.get_by_role("link", name=f"#{run_id}")).to_be_visible()
    expect(runs_table).to_contain_text("Succeeded")
    # The session page now reads as a conversation: the turn, then the box for the next one.
    expect(page.get_by_test_id("turn")).to_have_count(1)
    expect(page.locator("#follow-up-form")).to_be_visible()
    shot(page, "08-session-after-run")


def test_other_users_see_nothing(new_context, bob_page, alice_run):
    session_url = f"/sessions/{alice_run['session']}/"
    run_url = f"/runs/{alice_run['run']}/"
    page = bob_page

    response = page.goto(session_url)
    assert response.status == 404
    shot(page, "10-bob-alice-session-404")
    response = page.goto(run_url)
    assert response.status == 404
    shot(page, "11-bob-alice-run-404")

    page.goto("/")
    expect(page.locator(f'a[href="{session_url}"]')).to_have_count(0)
    expect(page.locator(f'a[href="{run_url}"]')).to_have_count(0)
    expect(page.get_by_text("No sandboxes yet")).to_be_visible()
    shot(page, "12-bob-home")
    page.goto("/sessions/")
    expect(page.locator(f'a[href="{session_url}"]')).to_have_count(0)

    # Writes are refused too, not just pages.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    for url in (f"{run_url}cancel/", f"{session_url}shutdown/", f"{session_url}runs/"):
        response = page.request.post(url, headers={"X-CSRFToken": csrf}, form={"prompt": "x"})
        assert response.status == 404, (url, response.status)

    # Bob's websocket to alice's run is refused; the same socket from alice's page works.
    ws_path = f"/ws/runs/{alice_run['run']}/"
    refused = page.evaluate(OPEN_SOCKET_JS, ws_path)
    assert refused["messages"] == 0, refused
    assert not refused["timedOut"], refused
    assert refused["code"] == 4403, refused  # closed with our code: the page says why

    alice = login(new_context(), "alice")
    allowed = alice.evaluate(OPEN_SOCKET_JS, ws_path)
    assert allowed["opened"] and allowed["messages"] > 0, allowed


def test_anonymous_visitors_are_sent_to_login(new_context, alice_run):
    page = new_context().new_page()
    for path in ("/", f"/sessions/{alice_run['session']}/", f"/runs/{alice_run['run']}/"):
        page.goto(path)
        assert page.url.split("?")[0].endswith("/login/"), (path, page.url)
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    shot(page, "20-anonymous-redirected-to-login")

    # The websocket is no back door either.
    refused = page.evaluate(OPEN_SOCKET_JS, f"/ws/runs/{alice_run['run']}/")
    assert refused["messages"] == 0 and not refused["timedOut"], refused
    assert refused["code"] == 4403, refused  # closed with our code: the page says why


def test_reconnect_during_a_run_neither_loses_nor_repeats_events(new_context):
    page = login(new_context(), "alice")
    open_sandbox(page)
    run_id = start_run(page, "A pretty page for a reconnecting run")
    wait_for_first_event_while_running(page, run_id)

    # Drop the socket mid-run; the page reconnects and resumes after its last seq.
    before = page.evaluate(
        """() => {
            const stream = document.querySelector("[data-run-stream]").runStream;
            window.__droppedSocket = stream.socket;
            const seqs = [...document.querySelectorAll("[data-testid=run-log] > li")]
                .map((li) => Number(li.dataset.seq));
            const status = document.querySelector("[data-testid=run-status]").textContent.trim();
            stream.socket.close();
            return { seqs, status, lastSeq: stream.lastSeq };
        }"""
    )
    assert before["status"] == "Running", before
    page.wait_for_function(
        """() => {
            const socket = document.querySelector("[data-run-stream]").runStream.socket;
            return socket !== window.__droppedSocket && socket.readyState === WebSocket.OPEN;
        }""",
        timeout=15_000,
    )
    wait_until_finished(page)
    expect(page.get_by_test_id("run-status")).to_have_text("Succeeded")
    expect(page.locator("[data-conn]")).to_have_text("finished")

    seqs = log_seqs(page, run_id)
    assert len(seqs) == len(set(seqs)), f"duplicated log items: {seqs}"
    assert seqs == sorted(seqs), seqs
    assert seqs[: len(before["seqs"])] == before["seqs"]
    assert len(seqs) > len(before["seqs"])
    log_text = page.locator(f"#run-{run_id}-log").inner_text()
    final = page.get_by_test_id("final-output").inner_text()
    shot(page, "30-reconnected-run-finished")

    # A fresh page replays the stored log from scratch: the reconnected page must match it.
    fresh = page.context.new_page()
    fresh.goto(f"/runs/{run_id}/")
    expect(fresh.locator("[data-conn]")).to_have_text("finished")
    fresh.wait_for_function(
        "([runId, n]) => document.querySelectorAll(`#run-${runId}-log > li`).length >= n",
        arg=[run_id, len(seqs)],
    )
    assert log_seqs(fresh, run_id) == seqs
    assert fresh.locator(f"#run-{run_id}-log").inner_text() == log_text
    assert fresh.get_by_test_id("final-output").inner_text() == final
