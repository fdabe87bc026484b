"""`manage.py worker`: django-tasks-db's queued tasks, many at once, on one event loop.

django-tasks-db's own `db_worker` runs one task at a time, and a run, a preview boot or a lane
group is one long task that mostly waits on a model or a sandbox: ten runs on two such workers
queue five deep. This worker claims up to `slots` rows (the same claim as `db_worker`: a
`SELECT ... FOR UPDATE SKIP LOCKED` in one transaction, so no row runs twice) and runs each
task's coroutine concurrently, as daphne's server-loop backend does in the embedded default.

It never runs with the autoreloader, beats in its `runs.Worker` row, and runs the reaper at
start-up and every RUN_HEARTBEAT_SECONDS: a killed worker's runs end interrupted and its task
rows failed (runs/reaper.py), whichever worker is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone
from django_tasks_db.compat import TaskContext
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction

from lib.db import close_broken_connections
from lib.task_wakeup import listen_forever

from .models import Worker as WorkerRow
from .reaper import WorkerStopped, reap_forever
from .warmup import warm_up

logger = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        *,
        worker_id: str,
        slots: int,
        interval: float,
        queue_names: list[str],
        backend_name: str,
        reap: bool = True,
    ) -> None:
        self.worker_id = worker_id
        self.slots = slots
        self.interval = interval
        self.queue_names = queue_names
        self.backend_name = backend_name
        self.reap = reap
        self.running: set[asyncio.Task] = set()
        self.stopping = asyncio.Event()
        self._wake = asyncio.Event()

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)
        warmed = warm_up()  # before the first claim: no task waits for it (runs/warmup.py)
        await WorkerRow.objects.aupdate_or_create(
            worker_id=self.worker_id,
            defaults={
                "host": settings.HOST_ID,
                "pid": os.getpid(),
                "slots": self.slots,
                "beat_at": timezone.now(),
            },
        )
        logger.warning(
            "Worker %s on %s: %d slots, queues %s, warmed up in %.2f s",
            self.worker_id,
            settings.HOST_ID,
            self.slots,
            ",".join(self.queue_names),
            warmed,
        )
        background = [
            asyncio.create_task(self._beat_forever()),
            # PostgreSQL: claim as soon as a task is queued, not at the next poll.
            asyncio.create_task(listen_forever(self._wake.set, self.stopping)),
        ]
        if self.reap:  # at start-up, then on a fixed period
            background.append(asyncio.create_task(reap_forever()))
        try:
            await self._claim_forever()
        finally:
            for task in background:
                task.cancel()
            await self._drain()
            await WorkerRow.objects.filter(worker_id=self.worker_id).adelete()

    async def _claim_forever(self) -> None:
        while not self.stopping.is_set():
            # Cleared before claiming: a wake-up heard while claiming is not lost.
            self._wake.clear()
            claimed = []
            if free := self.slots - len(self.running):
                try:
                    claimed = await sync_to_async(self._claim)(free)
                except Exception:
                    logger.exception("Worker %s: claiming tasks failed", self.worker_id)
            for row in claimed:
                task = asyncio.create_task(self._execute(row))
                self.running.add(task)
                task.add_done_callback(self._done)
            if len(claimed) == free and free:
                continue  # there may be more waiting
            with contextlib.suppress(TimeoutError):
                # Woken by a queued task (lib/task_wakeup.py) or by a slot freed when all were
                # taken; otherwise new rows show up by polling.
                await asyncio.wait_for(self._wake.wait(), self.interval)

    def _done(self, task: asyncio.Task) -> None:
        self.running.discard(task)
        if len(self.running) == self.slots - 1:
            self._wake.set()

    def _claim(self, limit: int) -> list[DBTaskResult]:
        """Up to `limit` ready rows, claimed in one transaction (no other worker gets them)."""
        close_broken_connections()  # the database restarted: reconnect
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if "*" not in self.queue_names:
            tasks = tasks.filter(queue_name__in=self.queue_names)
        rows = []
        with exclusive_transaction(tasks.db):
            for _ in range(limit):
                row = tasks.get_locked()
                if row is None:
                    break
                row.claim(self.worker_id)
                rows.append(row)
        return rows

    async def _execute(self, row: DBTaskResult) -> None:
        try:
            task = row.task
            result = row.task_result
            args = (TaskContext(task_result=result),) if task.takes_context else ()
            value = await task.acall(*args, *result.args, **result.kwargs)
        except asyncio.CancelledError:
            await sync_to_async(row.set_failed)(
                WorkerStopped(f"Worker {self.worker_id} stopped before the task finished.")
            )
            raise
        except Exception as error:
            logger.warning("Task %s (%s) failed", row.id, row.task_path, exc_info=True)
            await sync_to_async(row.set_failed)(error)
        else:
            await sync_to_async(row.set_successful)(value)

    async def _drain(self) -> None:
        """Stopping: running tasks are cancelled (a run ends interrupted with its sandbox state
        stored, runs/executor.py) and their rows failed, then the worker leaves."""
        for task in list(self.running):
            task.cancel()
        if self.running:
            await asyncio.wait(list(self.running), timeout=30)

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(settings.RUN_HEARTBEAT_SECONDS)
            try:
                await WorkerRow.objects.filter(worker_id=self.worker_id).aupdate(
                    beat_at=timezone.now()
                )
            except Exception:
                logger.exception("Worker %s: heartbeat failed", self.worker_id)
