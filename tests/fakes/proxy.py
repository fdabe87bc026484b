"""The preview proxy, driven through the real ASGI application, with a real upstream server.

The upstream is an aiohttp app on loopback that reports the Host, Origin and Cookie headers it
received, sends X-Frame-Options, and echoes websocket messages (speaking Vite's subprotocol).
`app` is config.asgi.application; the helpers enter a preview with a grant, then send requests
and websockets to its origin the way a browser would.
"""

from __future__ import annotations

import asyncio
import inspect

import httpx
import pytest
from aiohttp import WSMsgType, web
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from lib import task_backends
from sandboxes import grants, proxy
from sandboxes.models import Preview, SandboxSession

DASHBOARD = "localhost:8000"


def preview_host(preview: Preview) -> str:
    return f"p{preview.pk}.preview.localhost:8000"


@pytest.fixture
async def app(monkeypatch):
    """config.asgi.application, with its PreviewProxy's upstream client bound to this loop."""
    # A known server loop: the ASGI wrapper then starts no reaper on this short-lived loop.
    monkeypatch.setattr(task_backends, "_server_loop", asyncio.get_running_loop())
    preview_proxy = inspect.getclosurevars(application).nonlocals["app"]
    assert isinstance(preview_proxy, proxy.PreviewProxy)
    preview_proxy._access.clear()
    yield application
    await preview_proxy.context.close()
    preview_proxy.context._session = None
    preview_proxy._access.clear()


@pytest.fixture
async def upstream():
    """A dev server stand-in on a free loopback port; `seen` holds each request's headers."""
    seen: list[dict] = []

    def report(request: web.Request) -> dict:
        headers = {
            "host": request.headers.get("Host"),
            "origin": request.headers.get("Origin"),
            "cookie": request.headers.get("Cookie"),
            "path": request.path_qs,
        }
        seen.append(headers)
        return headers

    async def index(request):
        return web.json_response(report(request), headers={"X-Frame-Options": "DENY"})

    async def echo(request):
        report(request)
        return web.Response(body=await request.read(), content_type="text/plain")

    async def socket(request):
        ws = web.WebSocketResponse(protocols=("vite-hmr",))
        await ws.prepare(request)
        await ws.send_json(report(request) | {"protocol": ws.ws_protocol})
        async for message in ws:
            if message.type == WSMsgType.TEXT and message.data == "bye":
                await ws.close()  # the dev server ends the socket (Vite restarting)
            elif message.type == WSMsgType.TEXT:
                await ws.send_str(f"echo:{message.data}")
            elif message.type == WSMsgType.BINARY:
                await ws.send_bytes(b"echo:" + message.data)
        return ws

    web_app = web.Application()
    web_app.router.add_get("/", index)
    web_app.router.add_get("/page", index)
    web_app.router.add_post("/echo", echo)
    web_app.router.add_get("/ws", socket)
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield type("Upstream", (), {"port": port, "url": f"http://127.0.0.1:{port}/", "seen": seen})
    await runner.cleanup()


async def make_preview(owner, upstream_url: str, status=Preview.Status.READY) -> Preview:
    session = await SandboxSession.objects.acreate(
        owner=owner, name="s", status=SandboxSession.Status.RUNNING
    )
    return await Preview.objects.acreate(session=session, status=status, upstream_url=upstream_url)


@pytest.fixture
async def preview(alice, upstream):
    return await make_preview(alice, upstream.url)


def client(app, host: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


async def enter(app, preview: Preview, grant: str) -> httpx.Response:
    """What the enter page's script does with the grant in its fragment: post it."""
    async with client(app, preview_host(preview)) as c:
        return await c.post(grants.ENTER_PATH, data={"grant": grant})


async def cookie_for(app, preview: Preview, grant: str) -> str:
    """The Cookie header a browser sends after following the enter URL."""
    response = await enter(app, preview, grant)
    assert response.status_code == 303, response.text
    morsel = response.headers["set-cookie"].split(";")[0]
    assert morsel.startswith(f"{proxy.COOKIE_NAME}=")
    return morsel


async def get(app, preview: Preview, path: str = "/", cookie: str | None = None, **kwargs):
    headers = {"cookie": cookie} if cookie else {}
    async with client(app, preview_host(preview)) as c:
        return await c.get(path, headers=headers, **kwargs)


def login_session_key(user) -> str:
    """The key of a real login session of `user` (an owner's grant lasts as long as it)."""
    client = Client()
    client.force_login(user)
    return client.session.session_key


async def owner_grant(preview: Preview, user) -> str:
    key = await sync_to_async(login_session_key)(user)
    return grants.grant_for_user(preview, user, key)


async def owner_cookie(app, preview: Preview, user) -> str:
    return await cookie_for(app, preview, await owner_grant(preview, user))


def ws_communicator(app, preview: Preview, cookie: str | None, path: str = "/ws", **kw):
    headers = [
        (b"host", preview_host(preview).encode()),
        (b"origin", f"http://{preview_host(preview)}".encode()),
    ]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(app, path, headers=headers, **kw)
