"""Process groups on this machine: the one place that signals, checks and kills them.

Everything the dashboard starts in a local sandbox (dev servers, console commands) runs in its
own process group, so stopping the group stops whatever it started. Linux's /proc tells what
is alive and where it works; elsewhere the checks fall back to signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from asgiref.sync import sync_to_async


def kill_group(pid: int | None) -> None:
    """SIGKILL a process group at once; never raises."""
    if not pid:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def stop_process_group(pid: int | None, *, grace: float = 3.0) -> None:
    """SIGTERM the group, then SIGKILL what is left after `grace` seconds."""
    if not pid:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while loop.time() < deadline:
        await asyncio.sleep(0.1)
        if not await sync_to_async(process_group_alive)(pid):
            return
    kill_group(pid)


def process_group_alive(pid: int | None) -> bool:
    """Whether any process of the group still runs. Zombies don't count: killpg(pgid, 0)
    succeeds on them, and where nothing reaps orphans (PID 1 without an init) they linger."""
    if not pid:
        return False
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After "(comm)": state, ppid, pgrp.
        if int(fields[2]) == pid and fields[0] != "Z":
            return True
    return False


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after "(comm)": state, ppid, pgrp, … (starttime is index 19)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_identity(pid: int | None = None) -> str:
    """ "<pid>:<start time>" of a process (this one by default). A pid the kernel hands to
    another process later comes with another start time, so the pair names one process."""
    pid = pid or os.getpid()
    fields = _stat_fields(pid)
    return f"{pid}:{fields[19] if fields else ''}"


def process_identity_alive(identity: str) -> bool:
    """Whether the process `process_identity` named still runs (not a zombie). Without /proc
    (or for a malformed identity) it is taken for alive: only a heartbeat can tell then."""
    pid, _, started = identity.partition(":")
    if not pid.isdecimal() or not started or not os.path.isdir("/proc"):
        return True
    fields = _stat_fields(int(pid))
    return fields is not None and fields[0] != "Z" and fields[19] == started


def kill_processes_under(root: str, *, base: str, keep_groups: set[int] = frozenset()) -> int:
    """SIGKILL the processes whose working directory is in `root`, except the process groups
    in `keep_groups`. `root` must lie strictly inside `base`: never a parent, never "" (the
    current directory). Linux only (reads /proc); elsewhere does nothing."""
    if not root or not os.path.isdir("/proc"):
        return 0
    root = os.path.realpath(root)
    if not root.startswith(os.path.realpath(base) + os.sep):
        return 0
    killed = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cwd = os.path.realpath(os.readlink(f"/proc/{entry}/cwd"))
            group = os.getpgid(int(entry))
        except OSError:
            continue
        if (cwd == root or cwd.startswith(root + os.sep)) and group not in keep_groups:
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
            except OSError:
                continue
    return killed
