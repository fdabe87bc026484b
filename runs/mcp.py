"""MCP servers attached to an agent: any streamable-HTTP server by URL and headers, E2B's
in-sandbox MCP gateway, or the dashboard's built-in offline docs server (runs.research).
Headers and settings are sealed at rest (runs.secrets) and only opened here, in memory, to
connect."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from agents.mcp import MCPServer, MCPServerStreamableHttp

from lib.errors import describe_error
from lib.secrets import is_sealed, seal, unseal
from lib.urls import public_url
from sandboxes.backends import BACKENDS
from sandboxes.models import SandboxSession

from .research.server import DISPLAY_URL as BUILTIN_DISPLAY_URL
from .research.server import builtin_server

E2B_GATEWAY_NAME = "e2b-mcp-gateway"


def http_server_spec(*, name: str, url: str, headers: dict[str, str]) -> dict[str, Any]:
    # URLs often carry keys too (?apiKey=…, user:pass@): sealed like the headers; pages and
    # events get `display_url`, stripped of credentials and query.
    return {
        "name": name,
        "kind": "http",
        "url": seal(url),
        "display_url": public_url(url),
        "headers": seal(headers) if headers else "",
    }


def builtin_server_spec(*, name: str = "docs") -> dict[str, Any]:
    """The built-in offline docs server (search, fetch): nothing secret to seal, its address
    and token exist only in the memory of the process that runs the agent."""
    return {"name": name, "kind": "builtin", "display_url": BUILTIN_DISPLAY_URL}


def e2b_server_spec(*, name: str, settings: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "kind": "e2b", "settings": seal(settings)}


def e2b_gateway_settings(specs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The `mcp` option E2B's sandbox is created with: server name -> its settings."""
    return {s["name"]: unseal(s["settings"]) for s in specs if s.get("kind") == "e2b"}


async def e2b_gateway(sandbox: Any, *, require_approval: bool = False) -> MCPServerStreamableHttp:
    """Connect to the MCP gateway inside an E2B sandbox with its bearer token."""
    url, token = await BACKENDS[SandboxSession.Backend.E2B].mcp_gateway(sandbox)
    return MCPServerStreamableHttp(
        params={"url": url, "headers": {"Authorization": f"Bearer {token}"}},
        name=E2B_GATEWAY_NAME,
        cache_tools_list=True,
        require_approval="always" if require_approval else None,
    )


class MCPServerUnavailable(Exception):
    """An MCP server of the run could not be connected: the run fails with this one line (a
    traceback would say nothing more; the cause is the server, not the dashboard)."""


async def _enter(stack: contextlib.AsyncExitStack, server: MCPServer) -> None:
    try:
        await stack.enter_async_context(server)
    except Exception as error:
        raise MCPServerUnavailable(describe_error(error)) from None


async def connect_servers(
    specs: list[dict[str, Any]],
    sandbox: Any,
    stack: contextlib.AsyncExitStack,
    *,
    require_approval: bool = False,
) -> list[tuple[MCPServer, str, list[str]]]:
    """Connected servers with the public URL and tool names of each, closed by `stack`.

    `require_approval`: every tool call of these servers waits for a person's approval."""
    connected = []
    if any(spec.get("kind") == "e2b" for spec in specs):
        server = await e2b_gateway(sandbox, require_approval=require_approval)
        await _enter(stack, server)
        url = public_url(server.params["url"])
        connected.append((server, url, [t.name for t in await server.list_tools()]))
    for spec in specs:
        if spec.get("kind") == "builtin":
            running = await asyncio.to_thread(builtin_server)
            url, headers, shown = running.url, running.headers, BUILTIN_DISPLAY_URL
        elif spec.get("kind") == "http":
            headers = unseal(spec["headers"]) if spec.get("headers") else {}
            url = unseal(spec["url"]) if is_sealed(spec["url"]) else spec["url"]
            shown = public_url(url)
        else:
            continue
        server = MCPServerStreamableHttp(
            params={"url": url, "headers": headers, "timeout": 15},
            name=spec["name"],
            cache_tools_list=True,
            require_approval="always" if require_approval else None,
        )
        await _enter(stack, server)
        connected.append((server, shown, [t.name for t in await server.list_tools()]))
    return connected
