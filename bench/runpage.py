"""Time to open a long run: how long until a finished run of N events is fully shown in Chromium.

A real daphne serving the embedded default (bench/server.py), once from `main` (the baseline,
`git archive main` in a temp dir) and once from this tree, in the same invocation. For each N
(1,000 / 10,000 / 50,000 events) a finished run is stored: steps of 8 events each (an
assistant message streamed in 4 deltas, then a shell command and its 20-line output), then the
final state. Debian's chromium (Playwright, headless) logs in and opens the run page; the
clock runs from navigation until every step is in the DOM, the last output is in and the state
says the run finished (polled every animation frame), capped at BENCH_TIMEOUT. Also printed:
the page's HTML size and when its response ended, websocket messages received and sockets
closed by the server, then on the loaded page how long scrolling to the end takes to paint and
whether find-in-page (window.find) finds the last step.

It prints figures; it asserts nothing.

    .venv/bin/python bench/runpage.py

Environment: BENCH_EVENTS ("1000,10000,50000"), BENCH_TREES ("main,here"), BENCH_TIMEOUT
(60 s), BENCH_REPEAT (2: the best of so many openings is printed).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import (
    PASSWORD,
    ROOT,
    USER,
    Dashboard,
    baseline_tree,
    cleanup,
    revision,
    workdir,
)

SIZES = [int(n) for n in os.environ.get("BENCH_EVENTS", "1000,10000,50000").split(",")]
TREES = os.environ.get("BENCH_TREES", "main,here").split(",")
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "60"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "2"))
EVENTS_PER_STEP = 8
OUTPUT_LINES = 20

# Runs in the dashboard's own tree (main's too): only its models, nothing of this branch.
STORE = """
import json
from django.contrib.auth import get_user_model
from django.utils import timezone
from runs.models import Run, RunEvent
owner = get_user_model().objects.get(username={user!r})
steps = {steps}
run = Run.objects.create(owner=owner, config={{"name": "bench", "model": "demo"}},
                         prompt="A long run", status="succeeded",
                         started_at=timezone.now(), finished_at=timezone.now())
events = []
def add(kind, **payload):
    events.append(RunEvent(run=run, seq=len(events) + 1, kind=kind, payload=payload))
for i in range(steps):
    item = f"msg-{{i}}"
    add("message_start", item=item)
    for word in (f"step-{{i}}-said ", "looking ", "at ", "the files"):
        add("text_delta", item=item, delta=word)
    add("message", item=item, text=f"step-{{i}}-said looking at the files")
    add("tool_call", tool="exec_command", command=f"cat notes/{{i}}.txt", call=f"call-{{i}}")
    words = "lorem ipsum dolor sit amet " * 2
    lines = [f"line {{n}} of step {{i}}: {{words}}" for n in range({lines})]
    add("tool_output", call=f"call-{{i}}", output="\\n".join(lines), exit_code=0, wall_time=0.01)
add("state", **run.state_payload())
RunEvent.objects.bulk_create(events, batch_size=1000)
print(json.dumps({{"run": run.pk, "events": len(events)}}))
"""

DONE = """([runId, steps]) => {
  const log = document.getElementById(`run-${runId}-log`);
  const done = !!log && log.children.length === 2 * steps
    && !!document.querySelector(`#run-${runId}-state[data-run-finished]`)
    && !log.querySelector('pre.out.pending');
  if (done && window.benchShownAt === undefined) window.benchShownAt = performance.now();
  return done;
}"""


def store_run(dash: Dashboard, events: int) -> tuple[int, int]:
    steps = (events - 1) // EVENTS_PER_STEP
    out = dash.manage(
        "shell", "-c", STORE.format(user=USER, steps=steps, lines=OUTPUT_LINES)
    ).strip()
    run = json.loads(out.splitlines()[-1])["run"]
    return run, steps


def open_run(context, dash: Dashboard, run_id: int, steps: int) -> dict:
    page = context.new_page()
    frames: list[int] = []
    closes: list[int] = []

    def on_socket(ws):
        ws.on("framereceived", lambda payload: frames.append(len(payload)))
        ws.on("close", lambda _ws: closes.append(1))

    page.on("websocket", on_socket)
    started = time.perf_counter()
    page.goto(f"{dash.base_url}/runs/{run_id}/", wait_until="commit")
    shown = None
    try:
        page.wait_for_function(DONE, arg=[run_id, steps], polling="raf", timeout=TIMEOUT * 1000)
        shown = time.perf_counter() - started
    except Exception:
        pass
    result = {
        "shown": shown,
        "in_page": page.evaluate("window.benchShownAt") / 1000 if shown is not None else None,
        "steps_in_dom": page.evaluate(
            f"(document.getElementById('run-{run_id}-log') || {{children: []}}).children.length"
        )
        // 2,  # a message and a command per step
        "html_kb": page.evaluate("document.documentElement.outerHTML.length") / 1024,
        "response_end": page.evaluate("performance.getEntriesByType('navigation')[0].responseEnd")
        / 1000,
        "frames": len(frames),
        "largest_frame_kb": max(frames, default=0) / 1024,
        "closes": len(closes),
    }
    if shown is not None:
        tick = time.perf_counter()
        page.evaluate(
            "new Promise((r) => { window.scrollTo(0, document.body.scrollHeight);"
            " requestAnimationFrame(() => requestAnimationFrame(r)); })"
        )
        result["scroll_end"] = time.perf_counter() - tick
        page.evaluate("window.scrollTo(0, 0)")
        tick = time.perf_counter()
        result["found"] = page.evaluate(f"window.find('step-{steps - 1}-said')")
        result["find"] = time.perf_counter() - tick
    if os.environ.get("BENCH_DEBUG"):
        entries = (
            "performance.getEntries().map((e) => [e.name, Math.round(e.startTime), e.duration])"
        )
        print(page.evaluate(f"JSON.stringify({entries})"))
    page.close()
    return result


def login(browser, dash: Dashboard):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(f"{dash.base_url}/login/")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
    page.close()
    return context


def best(results: list[dict]) -> dict:
    loaded = [r for r in results if r["shown"] is not None]
    return min(loaded, key=lambda r: r["shown"]) if loaded else results[-1]


def main() -> None:
    from playwright.sync_api import sync_playwright

    tmp = workdir("bench-runpage-")
    table: dict[int, dict[str, dict]] = {n: {} for n in SIZES}
    try:
        trees = {"main": baseline_tree(tmp) if "main" in TREES else None, "here": ROOT}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
            )
            for name in TREES:
                label = f"{name} ({revision(trees[name])})"
                with Dashboard(trees[name], tmp / f"data-{name}") as dash:
                    context = login(browser, dash)
                    for n in SIZES:
                        run_id, steps = store_run(dash, n)
                        print(f"... {label}: {n} events", flush=True)
                        runs = [open_run(context, dash, run_id, steps) for _ in range(REPEAT)]
                        table[n][label] = best(runs) | {"steps": steps}
                    context.close()
            browser.close()
    finally:
        cleanup(tmp)
    print()
    print(
        f"{'events':>7} {'tree':<22} {'shown s':>9} {'in page':>8} {'steps':>13} {'HTML KB':>8} "
        f"{'resp s':>7} {'ws msgs':>7} {'max KB':>7} {'closes':>6} {'scroll s':>8} {'find':>9}"
    )
    for n, by_tree in table.items():
        for label, r in by_tree.items():
            shown = f"{r['shown']:.2f}" if r["shown"] is not None else f">{TIMEOUT:.0f} never"
            in_page = f"{r['in_page']:.2f}" if r["in_page"] is not None else "-"
            scroll = f"{r['scroll_end']:.2f}" if "scroll_end" in r else "-"
            find = f"{r['find']:.2f} {'ok' if r['found'] else 'no'}" if "find" in r else "-"
            print(
                f"{n:>7} {label:<22} {shown:>9} {in_page:>8} "
                f"{r['steps_in_dom']:>6}/{r['steps']:<6} "
                f"{r['html_kb']:>8.0f} {r['response_end']:>7.2f} {r['frames']:>7} "
                f"{r['largest_frame_kb']:>7.0f} {r['closes']:>6} {scroll:>8} {find:>9}"
            )


if __name__ == "__main__":
    main()
