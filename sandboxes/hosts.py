"""Which machine a local sandbox lives on.

A local sandbox is a folder and processes on one machine, and its previews listen on that
machine's loopback ports. Scaled out over several machines, every process records and checks
`settings.HOST_ID` (DASHBOARD_HOST_ID, default the hostname): a worker elsewhere refuses to run
in it, a daphne elsewhere refuses to open its workspace or proxy its preview, and no reaper
elsewhere takes its missing folder or processes for dead ones.
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
