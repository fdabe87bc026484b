"""The built-in offline MCP server: `search` and `fetch` over the bundled corpus.

The `mcp` package's server, over streamable HTTP, served by uvicorn on a loopback port in a
thread of the dashboard's own process; started the first time a run needs it (each process
that runs agents starts its own). Only the dashboard can call it: every request must carry a
bearer token made at start and kept in memory (not in the database, events or SDK state), so
a sandbox on this machine cannot use it.

Agents attach it like any MCP server, by a spec `{"name": ..., "kind": "builtin"}`
(`runs.mcp.builtin_server_spec`); the *Deep research* preset does by default.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import socket
import threading
import time
from typing import Any

from .corpus import corpus

logger = logging.getLogger(__name__)

SERVER_NAME = "offline-docs"
DISPLAY_URL = "built-in (offline docs corpus)"
MCP_PATH = "/mcp"
START_TIMEOUT = 15
FETCH_LIMIT = 12_000


def search_text(query: str, limit: int = 5) -> str:
    """What `search` answers: numbered results, each `[id] title — url` and a passage."""
    query = (query or "").strip()
    if not query:
        return "Give a query: words to look for."
    limit = max(1, min(int(limit or 5), 10))
    found = corpus().search(query, limit)
    if not found:
        return f"No document matches {query!r}. Try other words."
    lines = [
        f"{len(found)} result{'s' if len(found) != 1 else ''} for {query!r} in the offline corpus "
        "(OpenAI Agents SDK docs and the Sandbox Dashboard README). Fetch one by its id."
    ]
    for rank, (document, _score) in enumerate(found, 1):
        lines.append(f"{rank}. [{document.id}] {document.title} — {document.url}")
        lines.append(f"   {document.best_passage(query)}")
    return "\n".join(lines)


def fetch_text(id: str, max_chars: int = FETCH_LIMIT) -> str:
    """What `fetch` answers: the document's title, source URL and text (clipped)."""
    document = corpus().get(id or "")
    if document is None:
        return f"No document with id {id!r}: use an id from search's results, like sdk/mcp."
    limit = max(500, min(int(max_chars or FETCH_LIMIT), 50_000))
    text = document.text if len(document.text) <= limit else document.text[:limit] + "\n…"
    return f"Title: {document.title}\nSource: {document.url}\nId: {document.id}\n\n{text}"


def _app(token: str):
    from mcp.server import MCPServer

    server = MCPServer(
        SERVER_NAME,
        instructions="Search and read the OpenAI Agents SDK docs and the Sandbox Dashboard "
        "README, offline. Cite the Source of what you use.",
    )

    @server.tool()
    def search(query: str, limit: int = 5) -> str:
        """Search the offline document corpus (OpenAI Agents SDK docs, Sandbox Dashboard
        README). Returns ids, titles, source URLs and the best-matching passage of each."""
        return search_text(query, limit)

    @server.tool()
    def fetch(id: str, max_chars: int = FETCH_LIMIT) -> str:
        """Fetch one document of the offline corpus by the id search gave (e.g. sdk/mcp):
        its title, its source URL and its text."""
        return fetch_text(id, max_chars)

    app = server.streamable_http_app(streamable_http_path=MCP_PATH)
    expected = f"Bearer {token}".encode()

    async def guarded(scope: dict[str, Any], receive, send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, expected):
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
        await app(scope, receive, send)

    return guarded


class BuiltinServer:
    """One running server: `url` and `headers` to connect to it."""

    def __init__(self) -> None:
        import uvicorn

        self.token = secrets.token_urlsafe(32)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            _app(self.token),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        # uvicorn would install signal handlers, which only the main thread may do.
        self._server.install_signal_handlers = lambda: None
        self._thread = threading.Thread(
            target=self._server.run, name="offline-docs-mcp", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{MCP_PATH}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self._server.started

    def start(self) -> BuiltinServer:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The built-in offline MCP server did not start.")
            time.sleep(0.02)
        logger.info("Built-in offline MCP server on 127.0.0.1:%s", self.port)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


_lock = threading.Lock()
_running: BuiltinServer | None = None


def builtin_server() -> BuiltinServer:
    """The process's built-in server, started on first use (blocking for its start-up)."""
    global _running
    with _lock:
        if _running is None or not _running.alive:
            corpus()  # index before the first request, not during it
            _running = BuiltinServer().start()
        return _running
