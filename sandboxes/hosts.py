"""Which machine a local sandbox lives on.

A local sandbox is a folder and processes on one machine, and its previews listen on that
machine's loopback ports. Scaled out over several machines, every process records and checks
`settings.HOST_ID` (DASHBOARD_HOST_ID, default the hostname): a worker elsewhere refuses to run
in it, a daphne elsewhere refuses to open its workspace or proxy its preview, and no reaper
elsewhere takes its missing folder or processes for dead ones. With TASKS_BACKEND=db, the
tasks of a local sandbox that already lives somewhere (its runs, its previews' boots) are
queued for its machine (`host-<HOST_ID>`, which `manage.py worker` there also serves).
"""

from __future__ import annotations

from django.conf import settings

from .models import SandboxSession


class OnAnotherMachine(RuntimeError):
    pass


def elsewhere_reason(session: SandboxSession) -> str:
    return (
        f"This local sandbox lives on machine {session.host!r} and this process runs on "
        f"{settings.HOST_ID!r}: a local sandbox's files, processes and previews exist only on "
        "its own machine. Run its workers and dashboard there, or use Docker or E2B sandboxes "
        "when scaling out across machines."
    )


def require_here(session: SandboxSession) -> None:
    if session.elsewhere:
        raise OnAnotherMachine(elsewhere_reason(session))


def host_queue(host: str) -> str:
    """The task queue served by the workers of machine `host` (a queue name has 32 chars)."""
    return f"host-{host}"[:32]


def queue_for(session: SandboxSession | None) -> str:
    """Where a task working in `session` is queued: its machine's queue for a local sandbox
    that lives somewhere, any worker's otherwise."""
    if settings.TASKS_MODE == "db" and session is not None and session.is_local and session.host:
        return host_queue(session.host)
    return "default"


def task_for(task, session: SandboxSession | None):
    """`task`, queued where it can work in `session`."""
    queue = queue_for(session)
    return task if queue == task.queue_name else task.using(queue_name=queue)
