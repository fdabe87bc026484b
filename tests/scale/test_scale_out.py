"""Scale-out, for real: PostgreSQL, Redis, two daphnes and two `manage.py worker` processes.

Runs execute in the workers and stream to viewers on either daphne, each event once and in
order; killed workers, daphnes and a restarted Redis cost no event and leave no run running.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from asgiref.sync import sync_to_async

from runs.models import Run

from .conftest import (
    RUN_STALE_SECONDS,
    WORKER_POLL_SECONDS,
    Viewer,
    run_task_queue,
    run_task_row,
    run_task_worker,
    start_run,
    start_sessions,
    stored_seqs,
    wait_for,
)

RUN_TIMEOUT = 90


class FormFields(HTMLParser):
    """The fields a browser would send for one form of a page (its defaults)."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.fields: dict[str, str] = {}
        self.action = ""
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
            if self.inside:
                self.action = a.get("action", "")
        if not self.inside or ("name" not in a and tag != "option"):
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button"):
                self.fields[a["name"]] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields[a["name"]] = ""
        elif tag == "select":
            self._select = a["name"]
        elif (
            tag == "option"
            and self._select
            and ("selected" in a or self._select not in self.fields)
        ):
            self.fields[self._select] = a.get("value", "")

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "form":
            self.inside = False


def submit_run_form(base_url: str, cookie: str, session_id: int, prompt: str) -> int:
    """What a person does on daphne `base_url`: open the sandbox's page, fill in the run form,
    send it (CSRF token and once-per-form token included). Returns the new run's id."""
    with httpx.Client(base_url=base_url, headers={"Cookie": cookie}, timeout=20) as client:
        page = client.get(f"/sessions/{session_id}/")
        assert page.status_code == 200, page.text[:500]
        form = FormFields("run-form")
        form.feed(page.text)
        assert form.action, "no run form on the sandbox page"
        csrf = client.cookies.get("csrftoken") or re.search(
            r'"x-csrftoken":\s*"([^"]+)"', page.text
        ).group(1)
        fields = form.fields | {"prompt": prompt}
        response = client.post(
            form.action,
            data=fields,
            headers={
                "X-CSRFToken": csrf,
                "HX-Request": "true",
                "Referer": f"{base_url}/sessions/{session_id}/",
                "Cookie": f"{cookie}; csrftoken={csrf}",
            },
        )
        assert response.status_code == 200, response.text[:1000]
        location = response.headers["HX-Redirect"]
        return int(re.search(r"/runs/(\d+)/", location).group(1))


def assert_gapless(viewer: Viewer) -> None:
    stored = stored_seqs(viewer.run_id)
    assert stored == list(range(1, len(stored) + 1))
    assert viewer.seqs == stored, f"run {viewer.run_id}: got {viewer.seqs}, stored {stored}"


async def finished(run_id: int) -> Run:
    def ended():
        run = Run.objects.get(pk=run_id)
        return run if run.status not in Run.ACTIVE_STATUSES else None

    return await wait_for(ended, RUN_TIMEOUT, f"run {run_id} to end")


pytestmark = pytest.mark.asyncio


async def test_a_run_started_on_one_daphne_streams_from_a_worker_to_a_viewer_on_the_other(
    up, alice, alice_cookie
):
    [session] = await sync_to_async(start_sessions)(alice, 1)
    run_id = await sync_to_async(submit_run_form)(
        up.url(0), alice_cookie, session.pk, "A landing page for a bike repair shop"
    )
    viewer = Viewer(up, run_id, alice_cookie)
    await viewer.connect(1)
    await viewer.follow(seconds=RUN_TIMEOUT)
    await viewer.close()

    run = await Run.objects.aget(pk=run_id)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert "bike repair" in run.final_output.lower()
    assert await sync_to_async(run_task_worker)(run_id) in {w.worker_id for w in up.workers}
    # Queued for the machine its local sandbox lives on (every worker here serves it).
    assert await sync_to_async(run_task_queue)(run_id) == f"host-{socket.gethostname()}"[:32]
    # DEBUG is on, yet no worker runs under the autoreloader (it would be the worker's child).
    for worker in up.workers:
        children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
        assert children == [], f"{worker.name} has child processes {children}"
    await sync_to_async(assert_gapless)(viewer)
    assert len(viewer.seqs) > 10


async def test_ten_runs_at_once_share_both_workers_and_run_concurrently(up, alice, alice_cookie):
    sessions = await sync_to_async(start_sessions)(alice, 10)
    started = time.monotonic()
    runs = [
        await sync_to_async(start_run)(alice, s, f"A landing page #{i}")
        for i, s in enumerate(sessions)
    ]
    viewers = [Viewer(up, run.pk, alice_cookie) for run in runs]
    for index, viewer in enumerate(viewers):
        await viewer.connect(index % 2)  # half on each daphne
    await asyncio.gather(*(v.follow(seconds=RUN_TIMEOUT) for v in viewers))
    wall = time.monotonic() - started
    for viewer in viewers:
        await viewer.close()

    ended = [await Run.objects.aget(pk=run.pk) for run in runs]
    assert [r.status for r in ended] == [Run.Status.SUCCEEDED] * 10, [r.error for r in ended]
    for viewer in viewers:
        await sync_to_async(assert_gapless)(viewer)
    workers = {await sync_to_async(run_task_worker)(run.pk) for run in runs}
    assert workers == {w.worker_id for w in up.workers}  # 8 slots each: both took runs
    # Concurrent, not queued one per worker: more than two ran at the same moment.
    most = max(sum(1 for o in ended if o.started_at <= r.started_at < o.finished_at) for r in ended)
    assert most > 2, [(r.started_at, r.finished_at) for r in ended]
    longest = max((r.finished_at - r.started_at).total_seconds() for r in ended)
    print(f"10 runs on 2 workers: {wall:.1f} s wall, longest run {longest:.1f} s, {most} at once")


async def test_a_queued_run_is_claimed_at_once_though_the_workers_poll_rarely(up, alice):
    """The workers poll every WORKER_POLL_SECONDS; the enqueue's NOTIFY wakes one at once."""
    (session,) = await sync_to_async(start_sessions)(alice, 1)
    delays = []
    for i in range(4):
        await asyncio.sleep(0.3 * i)  # a different moment of the workers' poll each time
        run = await sync_to_async(start_run)(alice, session, f"A landing page #{i}")
        assert (await finished(run.pk)).status == Run.Status.SUCCEEDED
        row = await sync_to_async(run_task_row)(run.pk)
        delays.append((row.started_at - row.enqueued_at).total_seconds())
    assert max(delays) < 1.0 < WORKER_POLL_SECONDS, delays


async def test_a_run_whose_worker_is_killed_ends_interrupted_and_the_other_worker_carries_on(
    up, alice, alice_cookie
):
    from django_tasks_db.models import DBTaskResult

    first, second = await sync_to_async(start_sessions)(alice, 2)
    run = await sync_to_async(start_run)(alice, first)
    await wait_for(
        lambda: len(stored_seqs(run.pk)) >= 4, 30, "the run to stream a few events", step=0.05
    )
    owner = up.worker_of(await sync_to_async(run_task_worker)(run.pk))
    assert (await Run.objects.aget(pk=run.pk)).status == Run.Status.RUNNING
    owner.kill()
    killed_at = time.monotonic()

    ended = await finished(run.pk)
    took = time.monotonic() - killed_at
    assert ended.status == Run.Status.INTERRUPTED
    assert "The process executing this run" in ended.error and "is gone" in ended.error
    assert took <= RUN_STALE_SECONDS + 1, f"interrupted {took:.1f} s after the kill"
    # The task row it held does not stay RUNNING either.
    await wait_for(
        lambda: (
            not DBTaskResult.objects.filter(
                status="RUNNING", worker_ids__contains=[owner.worker_id]
            ).exists()
        ),
        RUN_STALE_SECONDS + 2,
        "the killed worker's task row to be failed",
    )
    # Its sandbox is usable again, and the other worker runs what comes next.
    survivor = next(w for w in up.workers if w is not owner)
    for session in (first, second):
        again = await sync_to_async(start_run)(alice, session, "Another landing page")
        assert (await finished(again.pk)).status == Run.Status.SUCCEEDED
        assert await sync_to_async(run_task_worker)(again.pk) == survivor.worker_id


async def test_a_viewer_of_a_killed_daphne_reconnects_to_the_other_and_misses_nothing(
    up, alice, alice_cookie
):
    [session] = await sync_to_async(start_sessions)(alice, 1)
    run = await sync_to_async(start_run)(alice, session)
    viewer = Viewer(up, run.pk, alice_cookie)
    await viewer.connect(0)
    await viewer.follow(until_seqs=4, seconds=30)
    up.daphnes[0].kill()
    # The socket drops; the page reconnects (runstream.js) to whichever daphne answers.
    await viewer.closed()
    await viewer.connect(1)
    await viewer.follow(seconds=RUN_TIMEOUT)
    await viewer.close()
    assert (await Run.objects.aget(pk=run.pk)).status == Run.Status.SUCCEEDED
    await sync_to_async(assert_gapless)(viewer)


async def test_a_run_survives_a_redis_restart_and_its_viewer_catches_up(up, alice, alice_cookie):
    [session] = await sync_to_async(start_sessions)(alice, 1)
    run = await sync_to_async(start_run)(alice, session)
    viewer = Viewer(up, run.pk, alice_cookie)
    await viewer.connect(1)
    await viewer.follow(until_seqs=4, seconds=30)
    await sync_to_async(up.restart_redis)()
    ended = await finished(run.pk)
    assert ended.status == Run.Status.SUCCEEDED, ended.error
    # Its socket was closed with a code the page reconnects on (or lives on): resume.
    for _ in range(3):
        try:
            await viewer.follow(seconds=5)
            break
        except BaseException:
            await viewer.close()
            await viewer.connect(0)
    await viewer.close()
    await sync_to_async(assert_gapless)(viewer)


async def test_a_viewer_connecting_while_redis_is_down_is_told_to_try_again(
    up, alice, alice_cookie
):
    [session] = await sync_to_async(start_sessions)(alice, 1)
    run = await sync_to_async(start_run)(alice, session)
    await finished(run.pk)
    await sync_to_async(up.stop_redis)()
    try:
        viewer = Viewer(up, run.pk, alice_cookie)
        await viewer.connect(0)  # the handshake succeeds (no 500)...
        close = await viewer.closed()
        assert close is not None and close.code == 4013  # ...and says "try again later"
    finally:
        await sync_to_async(up.start_redis)()
    viewer = Viewer(up, run.pk, alice_cookie)
    await viewer.connect(0)
    await viewer.follow(seconds=20)
    await viewer.close()
    await sync_to_async(assert_gapless)(viewer)


async def test_an_idle_viewer_socket_stays_open(up, alice, alice_cookie):
    """channels_redis blocks 5 s reading Redis: an idle socket must outlive many such reads."""
    [session] = await sync_to_async(start_sessions)(alice, 1)
    run = await sync_to_async(start_run)(alice, session)
    await finished(run.pk)
    viewer = Viewer(up, run.pk, alice_cookie)
    await viewer.connect(0)
    await viewer.follow(seconds=20)
    await asyncio.sleep(12)
    await viewer.socket.send("not json")
    reply = await asyncio.wait_for(viewer.socket.recv(), 5)
    assert "not JSON" in reply
    await viewer.close()


async def test_a_preview_booted_by_a_worker_while_runs_execute_is_served_by_either_daphne(
    up, alice, alice_cookie
):
    from sandboxes import grants
    from sandboxes.models import Preview
    from sandboxes.previews import preview_create

    sandbox, busy_a, busy_b = await sync_to_async(start_sessions)(alice, 3)
    runs = [await sync_to_async(start_run)(alice, s) for s in (busy_a, busy_b)]
    preview = await sync_to_async(preview_create)(
        session=sandbox, command="exec python3 -m http.server {port} --bind {host}"
    )
    ready = await wait_for(
        lambda: Preview.objects.filter(pk=preview.pk, status__in=["ready", "failed"]).first(),
        60,
        "the preview to boot",
    )
    assert ready.status == Preview.Status.READY, ready.error + ready.log
    assert await Run.objects.filter(pk__in=[r.pk for r in runs], status="running").aexists()

    session_key = alice_cookie.split("=", 1)[1]
    grant = await sync_to_async(grants.grant_for_user)(ready, alice, session_key)
    for index in (0, 1):
        port = up.daphnes[index].port
        host = f"p{ready.pk}.preview.localhost:{port}"
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Host": host}, timeout=20
        ) as client:
            entered = await client.post(grants.ENTER_PATH, data={"grant": grant})
            assert entered.status_code == 303, entered.text
            cookie = entered.headers["set-cookie"].split(";")[0]
            page = await client.get("/", headers={"Cookie": cookie})
        assert page.status_code == 200, page.text[:500]
        # The starter's index.html, served from the sandbox's workspace by its dev server.
        assert '<div id="root"></div>' in page.text and "/src/main.tsx" in page.text
    for run in runs:
        assert (await finished(run.pk)).status == Run.Status.SUCCEEDED


async def test_a_daphne_serves_many_pages_and_viewers_on_a_few_database_connections(
    up, alice, alice_cookie
):
    """Django closes its connection after every request and channels around every database
    call (ASGI needs CONN_MAX_AGE=0): without the pool, each page and each viewer's handshake
    was a new PostgreSQL connection, a backend process forked and set up for it."""
    log = Path(os.environ["SCALE_PG_LOG"])

    def opened() -> int:
        return log.read_text(errors="replace").count("application_name=daphne-0")

    [session] = await sync_to_async(start_sessions)(alice, 1)
    run_id = await sync_to_async(submit_run_form)(
        up.url(0), alice_cookie, session.pk, "A landing page for a tea room"
    )
    await finished(run_id)
    assert opened() > 0, f"PostgreSQL logs no connection of daphne-0 in {log}"
    before = opened()
    async with httpx.AsyncClient(headers={"Cookie": alice_cookie}, timeout=20) as client:
        for _ in range(10):
            for path in (f"/sessions/{session.pk}/", f"/runs/{run_id}/", "/runs/"):
                page = await client.get(up.url(0) + path)
                assert page.status_code == 200, (path, page.text[:300])
    for _ in range(5):
        viewer = Viewer(up, run_id, alice_cookie)
        await viewer.connect(0)
        await viewer.follow(seconds=RUN_TIMEOUT)
        await viewer.close()
        await sync_to_async(assert_gapless)(viewer)
    new = opened() - before
    # 30 pages and 5 viewers; the pool keeps DATABASE_POOL_MAX (16) at most, usually 2.
    assert new <= 4, f"daphne-0 opened {new} PostgreSQL connections for 30 pages and 5 viewers"
