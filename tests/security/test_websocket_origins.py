"""Item 2: a websocket is opened only by a page of the dashboard's own origin.

A page served by any local dev server (`http://127.0.0.1:<vite port>/evil.html`, written by an
agent or another user) carries the victim's cookies for 127.0.0.1. The host alone matches; the
origin (scheme, host and port) must. Checked for the run stream and for previews' websockets
(Vite's HMR), through the real ASGI application.
"""

from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator

from config.asgi import application
from sandboxes import proxy

from ..fakes.proxy import make_preview, owner_cookie, preview_host
from ..runs.test_consumers import cookie_for

pytestmark = pytest.mark.django_db(transaction=True)

DASHBOARD = "127.0.0.1:8000"


async def open_run_stream(run, cookie: bytes, origin: str | None, host: str = DASHBOARD):
    headers = [(b"host", host.encode()), (b"cookie", cookie)]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    return communicator, connected


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:5173",  # a dev server on another port of the same host
        "http://127.0.0.1",  # port 80 of the same host
        "https://127.0.0.1:8000",  # another scheme
        "http://localhost:8000",  # another (allowed) host name than the page's
        "null",  # a sandboxed iframe or a file:// page
        None,  # no Origin at all: not a browser page of ours
    ],
)
async def test_the_run_stream_refuses_a_foreign_origin(run, alice, origin):
    communicator, connected = await open_run_stream(run, await cookie_for(alice), origin)
    assert not connected
    await communicator.disconnect()


async def test_the_run_stream_opens_from_the_dashboards_own_origin(run, alice):
    communicator, connected = await open_run_stream(
        run, await cookie_for(alice), f"http://{DASHBOARD}"
    )
    assert connected
    await communicator.send_to(text_data=json.dumps({"type": "resume", "after": 0}))
    message = json.loads(await communicator.receive_from(timeout=3))
    assert "alice&#x27;s secret plan" in message["events"][0]["html"]
    await communicator.disconnect()


async def test_a_trusted_origin_of_a_proxy_in_front_is_accepted(run, alice, settings):
    """Behind a TLS proxy daphne sees ws://, the browser's page is https://."""
    settings.ALLOWED_HOSTS = ["dash.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://dash.example.com"]
    cookie = await cookie_for(alice)

    ok, connected = await open_run_stream(
        run, cookie, "https://dash.example.com", host="dash.example.com"
    )
    assert connected
    await ok.disconnect()
    foreign, connected = await open_run_stream(
        run, cookie, "https://dash.example.com:8443", host="dash.example.com"
    )
    assert not connected
    await foreign.disconnect()


async def test_a_host_outside_allowed_hosts_is_refused_even_from_its_own_origin(run, alice):
    communicator, connected = await open_run_stream(
        run, await cookie_for(alice), "http://evil.example", host="evil.example"
    )
    assert not connected
    await communicator.disconnect()


# --- previews' websockets (Vite's HMR) ------------------------------------------------------------


async def open_preview_socket(app, preview, cookie: str, origin: str):
    headers = [
        (b"host", preview_host(preview).encode()),
        (b"origin", origin.encode()),
        (b"cookie", cookie.encode()),
    ]
    communicator = WebsocketCommunicator(app, "/ws", headers=headers, subprotocols=["vite-hmr"])
    connected, _ = await communicator.connect(timeout=5)
    return communicator, connected


async def test_a_preview_socket_opens_from_the_previews_own_page(app, alice, upstream):
    preview = await make_preview(alice, upstream.url)
    cookie = await owner_cookie(app, preview, alice)

    communicator, connected = await open_preview_socket(
        app, preview, cookie, f"http://{preview_host(preview)}"
    )

    assert connected
    hello = json.loads(await communicator.receive_from(timeout=5))
    assert hello["protocol"] == "vite-hmr"
    await communicator.disconnect()


@pytest.mark.parametrize("foreign", ["dev server", "other preview", "dashboard"])
async def test_a_preview_socket_from_another_origin_is_refused(app, alice, upstream, foreign):
    preview = await make_preview(alice, upstream.url)
    other = await make_preview(alice, upstream.url)
    cookie = await owner_cookie(app, preview, alice)
    origin = {
        "dev server": f"http://127.0.0.1:{upstream.port}",
        "other preview": f"http://{preview_host(other)}",
        "dashboard": "http://localhost:8000",
    }[foreign]

    communicator, connected = await open_preview_socket(app, preview, cookie, origin)
    try:
        if connected:  # accepted, then closed with the proxy's refusal code
            closed = await communicator.receive_output(timeout=5)
            assert closed == {"type": "websocket.close", "code": proxy.CLOSE_REFUSED}
        assert upstream.seen == [], "the dev server was reached"
    finally:
        await communicator.disconnect(timeout=5)
