"""How higher layers take part in a sandbox's life without sandboxes importing them.

`runs` keeps agent runs on sessions: a busy session must not be paused, a session that shuts
down must first stop its runs. Higher apps register here in their AppConfig.ready(); this
module (and every caller of it in sandboxes) knows nothing of who they are.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import SandboxSession

logger = logging.getLogger(__name__)

BusyCheck = Callable[["SandboxSession"], Awaitable[str | None]]
ShutdownHook = Callable[["SandboxSession"], Awaitable[None]]

StopDelay = Callable[["SandboxSession"], Awaitable[str | None]]

_busy_checks: list[BusyCheck] = []
_before_shutdown: list[ShutdownHook] = []
_before_stop: list[ShutdownHook] = []
_stop_delays: list[StopDelay] = []
_delete_refusals: list[BusyCheck] = []


def register_busy_check(check: BusyCheck) -> None:
    """`check(session)` returns why the session is busy (a sentence), or None."""
    if check not in _busy_checks:
        _busy_checks.append(check)


def register_before_shutdown(hook: ShutdownHook) -> None:
    """`hook(session)` runs before a session's sandbox is shut down for good."""
    if hook not in _before_shutdown:
        _before_shutdown.append(hook)


def register_before_stop(hook: ShutdownHook) -> None:
    """`hook(session)` runs while the sandbox still runs, before it is shut down or paused
    (comparisons snapshots what live share links show of it)."""
    if hook not in _before_stop:
        _before_stop.append(hook)


def register_stop_delay(check: StopDelay) -> None:
    """`check(session)` says why stopping the session takes a while (a sentence to end "once
    …"), or None: such a stop runs in the background, not in the request."""
    if check not in _stop_delays:
        _stop_delays.append(check)


def register_delete_refusal(check: BusyCheck) -> None:
    """`check(session)` says why the session must not be deleted (a sentence), or None."""
    if check not in _delete_refusals:
        _delete_refusals.append(check)


async def delete_refusal_reason(session: SandboxSession) -> str | None:
    for check in _delete_refusals:
        if reason := await check(session):
            return reason
    return None


async def stop_delay_reason(session: SandboxSession) -> str | None:
    for check in _stop_delays:
        if reason := await check(session):
            return reason
    return None


async def before_stop(session: SandboxSession) -> None:
    for hook in _before_stop:
        try:
            await hook(session)
        except Exception:
            # What a higher layer wanted to keep is its loss; the sandbox still stops.
            logger.warning("A before-stop hook failed for session %s", session.pk, exc_info=True)


async def session_busy_reason(session: SandboxSession) -> str | None:
    for check in _busy_checks:
        if reason := await check(session):
            return reason
    return None


async def before_shutdown(session: SandboxSession) -> None:
    for hook in _before_shutdown:
        await hook(session)
