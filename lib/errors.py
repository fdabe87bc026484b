"""One way to say what went wrong, in one line a person can read."""

from __future__ import annotations


def describe_error(error: BaseException) -> str:
    """A one-line, user-facing description of what went wrong."""
    # Task groups (MCP clients, anyio) wrap the one error that matters.
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    message = str(error).strip() or error.__class__.__name__
    cause = error.__cause__
    if cause is not None and str(cause).strip() and str(cause) not in message:
        message = f"{message}: {cause}"
    return f"{error.__class__.__name__}: {message}"[:2000]
