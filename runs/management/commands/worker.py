import asyncio

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.tasks import task_backends
from django.utils.crypto import get_random_string
from django_tasks_db.backend import DatabaseBackend

from runs.worker import Worker
from sandboxes.hosts import host_queue


class Command(BaseCommand):
    help = (
        "Run queued tasks (TASKS_BACKEND=db) with many at once on one event loop, and the "
        "reaper at start-up and periodically. Never reloads on code changes. Start one or more "
        "per machine; SIGTERM or Ctrl-C stops it (its running runs end interrupted)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--slots",
            type=int,
            default=settings.WORKER_SLOTS,
            help="Tasks run at once (default: WORKER_SLOTS, %(default)s).",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=0.5,
            help="Seconds between polls of the queue when idle (default: %(default)s).",
        )
        parser.add_argument(
            "--queue-name",
            default="",
            help="Comma-separated, or '*' (default: 'default' and this machine's own queue, "
            "host-<DASHBOARD_HOST_ID>, where its local sandboxes' runs and previews go).",
        )
        parser.add_argument("--backend", default="default", dest="backend_name")
        parser.add_argument("--worker-id", default="", help="Unique in the pool (default: random).")
        parser.add_argument(
            "--no-reap",
            action="store_false",
            dest="reap",
            help="Leave reaping to other processes.",
        )

    def handle(self, *args, slots, interval, queue_name, backend_name, worker_id, reap, **options):
        if not isinstance(task_backends[backend_name], DatabaseBackend):
            raise CommandError(
                f"The {backend_name!r} task backend is not django-tasks-db's: set "
                "TASKS_BACKEND=db (with DATABASE_URL, REDIS_URL and DJANGO_SECRET_KEY shared by "
                "every process)."
            )
        if slots < 1:
            raise CommandError("--slots must be at least 1.")
        worker = Worker(
            worker_id=worker_id or get_random_string(32),
            slots=slots,
            interval=interval,
            queue_names=queue_name.split(",")
            if queue_name
            else ["default", host_queue(settings.HOST_ID)],
            backend_name=backend_name,
            reap=reap,
        )
        asyncio.run(worker.run())
