"""A real MCP server on loopback for the tests: the `mcp` package's MCPServer with one tool,
`search(query)`, served over streamable HTTP by uvicorn in a background thread.

It records the HTTP headers of every request it receives and every query its tool is called
with, so tests can check what the dashboard's agent actually sent over the wire.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn
from mcp.server import MCPServer

START_TIMEOUT = 10


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def search_result(query: str) -> str:
    return f"3 results for {query!r}: alpha.example, beta.example, gamma.example"


class LoopbackMCP:
    """Start with start(), stop with stop(); `url` is where the MCP endpoint answers."""

    def __init__(self, *, path: str = "/mcp") -> None:
        self.path = path
        self.port = free_port()
        self.requests: list[dict[str, str]] = []  # headers of each HTTP request, lower-cased
        self.queries: list[str] = []

        server = MCPServer("loopback-search")

        @server.tool()
        def search(query: str) -> str:
            """Search the web for `query`."""
            self.queries.append(query)
            return search_result(query)

        app = server.streamable_http_app(streamable_http_path=path)

        async def recording_app(scope: dict[str, Any], receive, send) -> None:
            if scope["type"] == "http":
                self.requests.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
            await app(scope, receive, send)

        config = uvicorn.Config(
            recording_app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="loopback-mcp", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self) -> LoopbackMCP:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the loopback MCP server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the loopback MCP server did not stop"

    def header_values(self, name: str) -> list[str]:
        return [headers[name] for headers in self.requests if name in headers]
