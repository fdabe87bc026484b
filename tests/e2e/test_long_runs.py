"""Long runs in Chromium: a run whose stored log is 5 MB opens with every event shown once,
whether the page renders it or the websocket catches up on it after a drop, and both ways
build the same log."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from .conftest import ARTIFACTS, _manage, context_factory, login, serve_dashboard

STEPS = 250  # x 250 lines of ~80 characters: 5 MB of stored output
LINES = 250

STORE = """
import json, sys
from django.contrib.auth import get_user_model
from django.utils import timezone
from runs.models import Run, RunEvent
from tests.helpers import long_log
run_id, first_seq, steps, status = {run_id}, {first_seq}, {steps}, {status!r}
if run_id is None:
    owner = get_user_model().objects.get(username="alice")
    run = Run.objects.create(owner=owner, config={{"name": "long", "model": "demo"}},
                             prompt="A long run", status=status, heartbeat_at=timezone.now())
else:
    run = Run.objects.get(pk=run_id)
RunEvent.objects.bulk_create(long_log(run.pk, steps=steps, output_lines={lines},
                                      first_seq=first_seq), batch_size=200)
if status != "running":
    RunEvent.objects.create(run=run, seq=first_seq + steps * 8, kind="state",
                            payload=run.state_payload())
print(json.dumps({{"run": run.pk}}))
"""


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    with serve_dashboard(tmp_path_factory.mktemp("long-runs")) as (base_url, env, _log):
        yield base_url, env


@pytest.fixture
def alice(browser, dashboard, page_errors):
    with context_factory(browser, page_errors) as make:
        yield login(make(dashboard[0]), "alice")


def store(env, *, steps: int, first_seq: int = 1, run_id=None, status="succeeded") -> int:
    code = STORE.format(run_id=run_id, first_seq=first_seq, steps=steps, status=status, lines=LINES)
    out = _manage(env, "shell", "-c", code).stdout
    return json.loads(out.strip().splitlines()[-1])["run"]


def viewport(page, name: str, element) -> None:
    """What the reader sees around `element` (a full-page shot of a 5 MB log is 50,000 pixels
    of steps off screen, which the page does not lay out until scrolled to)."""
    for _ in range(3):  # steps coming into view take their real height: scroll again
        element.scroll_into_view_if_needed()
        page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def log_signature(page) -> list[list]:
    """Each step of the log as the reader sees it: seq, kind, text."""
    return page.evaluate(
        """() => [...document.querySelectorAll('[data-testid=run-log] > li')].map(
            (li) => [li.dataset.seq, li.className, li.textContent.replace(/\\s+/g, ' ').trim()])"""
    )


def assert_every_step_once(page, tags: list[str]) -> None:
    seqs = page.eval_on_selector_all(
        "[data-testid=run-log] > li", "els => els.map(e => e.dataset.seq)"
    )
    assert len(seqs) == len(set(seqs)) == 2 * len(tags)
    text = page.locator("[data-testid=run-log]").text_content()
    for tag in tags:
        for marker in (f"step-{tag}-said", f"step-{tag}-out-first", f"step-{tag}-out-last"):
            assert text.count(marker) == 1, marker


def test_a_5_mb_run_opens_with_every_event_shown_once(alice, dashboard):
    run_id = store(dashboard[1], steps=STEPS)
    frames: list[int] = []
    alice.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(len(f))))
    alice.goto(f"/runs/{run_id}/")
    expect(alice.get_by_test_id("run-status")).to_have_text("Succeeded")
    assert_every_step_once(alice, [f"1.{i}" for i in range(STEPS)])
    # The page came with its log: the socket has nothing to catch up on.
    expect(alice.locator("[data-conn]")).to_have_text("finished")
    assert frames == []
    # A long output shows its first and last lines; the rest opens on a click.
    last = alice.locator("[data-testid=run-log] > li").last
    hidden_line = last.get_by_text("line 100 of step 249")
    expect(last.get_by_text("step-1.249-out-first")).to_be_visible()
    expect(last.get_by_text("step-1.249-out-last")).to_be_visible()
    expect(hidden_line).to_be_hidden()
    more = last.get_by_test_id("out-more")
    viewport(alice, "long-run-5mb-collapsed", more)
    more.click()
    expect(hidden_line).to_be_visible()
    viewport(alice, "long-run-5mb-expanded", more)
    alice.set_viewport_size({"width": 390, "height": 844})
    viewport(alice, "long-run-5mb-phone", last)


def test_a_5_mb_catch_up_after_a_drop_shows_every_event_once(alice, dashboard):
    env = dashboard[1]
    run_id = store(env, steps=1, status="running")
    frames: list[int] = []
    alice.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(len(f))))
    alice.goto(f"/runs/{run_id}/")
    expect(alice.locator("[data-conn]")).to_have_text("live")
    # 5 MB stored while the page's socket is down (nobody heard them live) …
    store(env, run_id=run_id, first_seq=9, steps=STEPS, status="running")
    alice.evaluate("document.querySelector('[data-run-stream]').runStream.socket.close()")
    # … reach it when the socket comes back, in messages well under daphne's 1 MB.
    expect(alice.locator("[data-testid=run-log] > li")).to_have_count(2 + 2 * STEPS)
    expect(alice.locator("[data-conn]")).to_have_text("live")
    assert_every_step_once(alice, ["1.0"] + [f"9.{i}" for i in range(STEPS)])
    assert len(frames) > 10 and max(frames) <= 256_000
    caught_up = log_signature(alice)
    # The page rendered by the server shows exactly what the fragments built.
    alice.reload()
    expect(alice.locator("[data-conn]")).to_have_text("live")
    assert log_signature(alice) == caught_up
