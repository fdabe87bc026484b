"""The workspace console: a person's shell command in a session's workspace, output streamed.

Local: a subprocess in the workspace folder, in its own process group, seeing the sandbox
environment policy, output streamed as it comes, stopped at its time or output limit or when
the visitor goes away. Remote: through the SDK; the output arrives when it has finished.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from agents.sandbox.errors import ExecTimeoutError
from asgiref.sync import sync_to_async

from lib.errors import describe_error
from lib.processes import kill_group

from ..environment import console_environment
from ..isolation import process_policy
from ..models import SandboxSession
from .base import WorkspaceError
from .remote import RemoteWorkspace, in_root

logger = logging.getLogger(__name__)

CONSOLE_TIMEOUT = 120  # seconds
CONSOLE_OUTPUT_LIMIT = 1_000_000  # bytes
CONSOLE_COMMAND_LIMIT = 4_000  # characters
CONSOLE_POLL = 0.25  # seconds between checks that the command is still running
CHUNK = 64 * 1024
EXIT_MARKER = "[dashboard] exit code"


def check_command(command: str) -> str:
    command = command.strip()
    if not command:
        raise WorkspaceError("Type a command to run.")
    if len(command) > CONSOLE_COMMAND_LIMIT:
        raise WorkspaceError(f"A command has at most {CONSOLE_COMMAND_LIMIT:,} characters.")
    if "\x00" in command:
        raise WorkspaceError("A command cannot contain NUL bytes (\\0): remove them.")
    return command


def amount(size: int) -> str:
    return f"{size // 1_000_000} MB" if size >= 1_000_000 else f"{size:,} bytes"


async def _drain_and_wait(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    while await process.stdout.read(CHUNK):
        pass
    await process.wait()


def _ending(code: int | None, seconds: float, stopped: str, newline: bool) -> str:
    start = "" if newline else "\n"
    if stopped:
        return f"{start}[dashboard] {stopped}\n"
    return f"{start}{EXIT_MARKER} {code} · {seconds:.2f} s\n"


async def _local_console(root: Path, command: str) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + CONSOLE_TIMEOUT
    try:
        policy = await sync_to_async(process_policy)(root, console_environment(root))
        process = await asyncio.create_subprocess_exec(
            *policy.shell(command),
            cwd=root,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group: whatever it starts dies with it
            env=policy.env,
        )
    except (OSError, ValueError) as error:
        yield f"[dashboard] the command could not start: {describe_error(error)}\n"
        return
    assert process.stdout is not None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    sent, stopped, newline = 0, "", True
    exited = False  # a poll found the command gone, the pipe still open
    try:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                stopped = f"timed out after {CONSOLE_TIMEOUT} s: the command was stopped."
                break
            try:
                chunk = await asyncio.wait_for(
                    process.stdout.read(CHUNK), timeout=min(remaining, CONSOLE_POLL)
                )
            except TimeoutError:
                if process.returncode is not None:
                    if exited:
                        break  # it exited; something it started in the background holds the pipe
                    # Read once more first: what it wrote as it exited may have come with this
                    # very poll (its last line went missing, though the exit code showed).
                    exited = True
                continue
            if not chunk:
                break
            if sent + len(chunk) > CONSOLE_OUTPUT_LIMIT:
                chunk = chunk[: CONSOLE_OUTPUT_LIMIT - sent]
                stopped = f"more than {amount(CONSOLE_OUTPUT_LIMIT)} of output: stopped."
            sent += len(chunk)
            if text := decoder.decode(chunk):
                newline = text.endswith("\n")
                yield text
            if stopped:
                break
        if text := decoder.decode(b"", final=True):
            newline = text.endswith("\n")
            yield text
        if not stopped:
            try:
                await asyncio.wait_for(process.wait(), timeout=max(deadline - loop.time(), 0.01))
            except TimeoutError:
                stopped = f"timed out after {CONSOLE_TIMEOUT} s: the command was stopped."
    finally:
        # Finished, stopped, or the visitor went away: nothing it started outlives it.
        kill_group(process.pid)
        with contextlib.suppress(Exception):
            # Read the pipe to its end (its writers are dead) so that it closes, then reap.
            await asyncio.wait_for(_drain_and_wait(process), timeout=5)
    yield _ending(process.returncode, loop.time() - started, stopped, newline)


async def _remote_console(session: SandboxSession, command: str) -> AsyncIterator[str]:
    yield (
        "[dashboard] Remote sandbox: the output appears when the command has finished "
        "(it is not streamed).\n"
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with RemoteWorkspace.attached(session) as remote:
            result = await remote.sdk_session.exec(
                in_root(remote.root, command), shell=True, timeout=CONSOLE_TIMEOUT
            )
    except (TimeoutError, ExecTimeoutError):
        yield f"[dashboard] timed out after {CONSOLE_TIMEOUT} s: the command was stopped.\n"
        return
    except Exception as error:
        logger.warning("Console command in session %s failed", session.pk, exc_info=True)
        yield f"[dashboard] the command could not run: {describe_error(error)}\n"
        return
    output = (result.stdout or b"") + (result.stderr or b"")
    stopped = ""
    if len(output) > CONSOLE_OUTPUT_LIMIT:
        output = output[:CONSOLE_OUTPUT_LIMIT]
        stopped = f"more than {amount(CONSOLE_OUTPUT_LIMIT)} of output: cut short."
    text = output.decode("utf-8", errors="replace")
    if text:
        yield text
    newline = not text or text.endswith("\n")
    if stopped:
        yield _ending(None, 0, stopped, newline)
        newline = True
    yield _ending(result.exit_code, loop.time() - started, "", newline)


def console(session: SandboxSession, command: str) -> AsyncIterator[str]:
    """Run `command` with sh in the workspace; its output (stdout and stderr together) as it
    comes, then a last line: `[dashboard] exit code N · T s`, or why it was stopped.

    Closing the iterator (Django does when the visitor goes away) stops the command. Call
    `check_available` and `check_command` first: this one refuses nothing.
    """
    # The generator itself, not a wrapper around it: closing a wrapper would leave it running.
    if session.is_local:
        return _local_console(Path(session.workspace_root), command)
    return _remote_console(session, command)
