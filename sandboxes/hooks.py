"""How higher layers take part in a sandbox's life without sandboxes importing them.

`runs` keeps agent runs on sessions: a busy session must not be paused, a session that shuts
down must first stop its runs. Higher apps register here in their AppConfig.ready(); this
module (and every caller of it in sandboxes) knows nothing of who they are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import SandboxSession

BusyCheck = Callable[["SandboxSession"], Awaitable[str | None]]
ShutdownHook = Callable[["SandboxSession"], Awaitable[None]]

_busy_checks: list[BusyCheck] = []
_before_shutdown: list[ShutdownHook] = []


def register_busy_check(check: BusyCheck) -> None:
    """`check(session)` returns why the session is busy (a sentence), or None."""
    if check not in _busy_checks:
        _busy_checks.append(check)


def register_before_shutdown(hook: ShutdownHook) -> None:
    """`hook(session)` runs before a session's sandbox is shut down for good."""
    if hook not in _before_shutdown:
        _before_shutdown.append(hook)


async def session_busy_reason(session: SandboxSession) -> str | None:
    for check in _busy_checks:
        if reason := await check(session):
            return reason
    return None


async def before_shutdown(session: SandboxSession) -> None:
    for hook in _before_shutdown:
        await hook(session)
