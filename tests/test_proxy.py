"""The preview proxy, driven through the real ASGI application, with a real upstream server.

The upstream is an aiohttp app on loopback that reports the Host, Origin and Cookie headers it
received, sends X-Frame-Options, and echoes websocket messages (speaking Vite's subprotocol).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from datetime import timedelta
from unittest import mock

import httpx
import pytest
from aiohttp import WSMsgType, web
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core import signing
from django.utils import timezone

from config.asgi import application
from runs import task_backends
from sandboxes import comparisons, proxy
from sandboxes.models import Comparison, Preview, SandboxSession, Version

pytestmark = pytest.mark.django_db(transaction=True)

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
            if message.type == WSMsgType.TEXT:
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
    async with client(app, preview_host(preview)) as c:
        return await c.get(proxy.ENTER_PATH, params={"grant": grant})


async def cookie_for(app, preview: Preview, grant: str) -> str:
    """The Cookie header a browser sends after following the enter URL."""
    response = await enter(app, preview, grant)
    assert response.status_code == 302, response.text
    morsel = response.headers["set-cookie"].split(";")[0]
    assert morsel.startswith(f"{proxy.COOKIE_NAME}=")
    return morsel


async def get(app, preview: Preview, path: str = "/", cookie: str | None = None, **kwargs):
    headers = {"cookie": cookie} if cookie else {}
    async with client(app, preview_host(preview)) as c:
        return await c.get(path, headers=headers, **kwargs)


async def owner_cookie(app, preview: Preview, user) -> str:
    return await cookie_for(app, preview, proxy.grant_for_user(preview, user))


# --- entering ----------------------------------------------------------------------------------


async def test_the_enter_url_sets_a_cookie_for_the_preview_host_and_redirects_home(
    app, preview, alice
):
    response = await enter(app, preview, proxy.grant_for_user(preview, alice))

    assert response.status_code == 302
    assert response.headers["location"] == "/"
    assert response.headers["cache-control"] == "no-store"
    attributes = [a.strip() for a in response.headers["set-cookie"].split(";")]
    assert attributes[0].startswith("sd_preview=")
    assert {"Path=/", "HttpOnly", "SameSite=None", "Secure", "Partitioned"} <= set(attributes)


async def test_preview_entry_url_points_at_the_preview_origin(rf, preview, alice):
    request = rf.get("/comparisons/1/", HTTP_HOST=DASHBOARD)
    url = proxy.preview_entry_url(request, preview, proxy.grant_for_user(preview, alice))
    assert url.startswith(f"http://{preview_host(preview)}/__preview__/enter?grant=")


async def test_with_the_cookie_the_upstream_page_comes_back(app, preview, alice, upstream):
    cookie = await owner_cookie(app, preview, alice)

    response = await get(app, preview, "/page?x=1", cookie)

    assert response.status_code == 200
    assert response.json()["path"] == "/page?x=1"
    assert upstream.seen[-1]["host"] == f"localhost:{upstream.port}"


async def test_request_bodies_pass_through(app, preview, alice, upstream):
    cookie = await owner_cookie(app, preview, alice)
    async with client(app, preview_host(preview)) as c:
        response = await c.post(
            "/echo",
            content=b"hello upstream",
            headers={"cookie": cookie, "origin": f"http://{preview_host(preview)}"},
        )
    assert response.status_code == 200
    assert response.content == b"hello upstream"
    assert upstream.seen[-1]["origin"] == f"http://localhost:{upstream.port}"


async def test_our_cookie_is_not_forwarded_but_the_apps_own_cookies_are(
    app, preview, alice, upstream
):
    cookie = await owner_cookie(app, preview, alice)

    response = await get(app, preview, "/", f"theme=dark; {cookie}; cart=3")

    assert response.status_code == 200
    forwarded = upstream.seen[-1]["cookie"]
    assert "sd_preview" not in forwarded
    assert cookie.split("=", 1)[1] not in forwarded
    assert forwarded == "theme=dark; cart=3"


async def test_a_request_with_only_our_cookie_reaches_the_upstream_without_cookies(
    app, preview, alice, upstream
):
    cookie = await owner_cookie(app, preview, alice)
    assert (await get(app, preview, "/", cookie)).status_code == 200
    assert upstream.seen[-1]["cookie"] is None


async def test_the_dashboards_session_and_csrf_cookies_are_not_forwarded(
    app, preview, alice, upstream, settings
):
    cookie = await owner_cookie(app, preview, alice)
    sent = f"{settings.SESSION_COOKIE_NAME}=secret-session; {settings.CSRF_COOKIE_NAME}=tok"

    response = await get(app, preview, "/", f"{sent}; {cookie}; theme=dark")

    assert response.status_code == 200
    assert upstream.seen[-1]["cookie"] == "theme=dark"


async def test_an_app_cookie_with_a_json_value_does_not_lock_the_viewer_out(
    app, preview, alice, upstream
):
    cookie = await owner_cookie(app, preview, alice)

    response = await get(app, preview, "/", f'consent={{"analytics":false}}; {cookie}')

    assert response.status_code == 200
    assert upstream.seen[-1]["cookie"] == 'consent={"analytics":false}'


async def test_preview_responses_carry_no_x_frame_options_unlike_the_dashboard(app, preview, alice):
    cookie = await owner_cookie(app, preview, alice)

    proxied = await get(app, preview, "/", cookie)
    async with client(app, DASHBOARD) as c:
        dashboard = await c.get("/login/")

    assert proxied.status_code == 200
    assert "x-frame-options" not in proxied.headers  # the upstream sent DENY
    assert dashboard.status_code == 200
    assert dashboard.headers["x-frame-options"] == "DENY"


async def test_the_dashboard_host_is_not_proxied(app, preview, upstream):
    async with client(app, DASHBOARD) as c:
        response = await c.get("/")
    assert response.status_code == 302 and "/login/" in response.headers["location"]
    assert upstream.seen == []


# --- websockets --------------------------------------------------------------------------------


def ws_communicator(app, preview: Preview, cookie: str | None, path: str = "/ws", **kw):
    headers = [
        (b"host", preview_host(preview).encode()),
        (b"origin", f"http://{preview_host(preview)}".encode()),
    ]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(app, path, headers=headers, **kw)


async def test_websocket_messages_pass_both_ways_with_the_subprotocol(
    app, preview, alice, upstream
):
    cookie = await owner_cookie(app, preview, alice)
    communicator = ws_communicator(app, preview, cookie, subprotocols=["vite-hmr"])

    connected, subprotocol = await communicator.connect(timeout=5)
    try:
        assert connected
        assert subprotocol == "vite-hmr"
        hello = json.loads(await communicator.receive_from(timeout=5))
        assert hello["host"] == f"localhost:{upstream.port}"
        assert hello["origin"] == f"http://localhost:{upstream.port}"
        assert hello["protocol"] == "vite-hmr"
        assert hello["cookie"] is None
        await communicator.send_to(text_data="ping")
        assert await communicator.receive_from(timeout=5) == "echo:ping"
        await communicator.send_to(bytes_data=b"\x00\x01")
        assert await communicator.receive_from(timeout=5) == b"echo:\x00\x01"
    finally:
        await communicator.disconnect(timeout=5)


async def test_a_websocket_without_access_is_closed_with_4403(app, preview, upstream):
    communicator = ws_communicator(app, preview, cookie=None)
    await communicator.connect(timeout=5)
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": proxy.CLOSE_REFUSED}
    assert upstream.seen == []


# --- who gets in -------------------------------------------------------------------------------


async def test_no_cookie_is_refused(app, preview, upstream):
    response = await get(app, preview, "/")
    assert response.status_code == 403
    assert "Preview not available" in response.text
    assert upstream.seen == []


async def test_bobs_grant_for_alices_preview_is_refused(app, preview, bob):
    response = await enter(app, preview, proxy.grant_for_user(preview, bob))
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


async def test_a_tampered_grant_is_refused(app, preview, alice, bob):
    grant = proxy.grant_for_user(preview, alice)
    data, _, signature = grant.rpartition(":")
    forged_data = signing.dumps({"p": preview.pk, "u": bob.pk}, salt=proxy.GRANT_SALT)
    for tampered in (
        f"{data}:{signature[::-1]}",
        f"{forged_data.split(':')[0]}:{grant.split(':', 1)[1]}",
        "",
        "garbage",
    ):
        response = await enter(app, preview, tampered)
        assert response.status_code == 403, tampered
        assert "set-cookie" not in response.headers


async def test_an_expired_grant_is_refused(app, preview, alice):
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 601):
        grant = proxy.grant_for_user(preview, alice)
    response = await enter(app, preview, grant)
    assert response.status_code == 403


async def test_a_grant_is_only_good_for_its_own_preview(app, preview, alice, upstream):
    other = await make_preview(alice, upstream.url)
    grant = proxy.grant_for_user(preview, alice)
    assert (await enter(app, other, grant)).status_code == 403


async def test_a_grant_signed_with_the_cookie_salt_is_refused(app, preview, alice):
    wrong_salt = signing.dumps({"p": preview.pk, "u": alice.pk}, salt=proxy.COOKIE_SALT)
    assert (await enter(app, preview, wrong_salt)).status_code == 403


async def test_an_unknown_preview_id_is_refused(app, preview, alice):
    ghost = Preview(pk=preview.pk + 1000)
    grant = signing.dumps({"p": ghost.pk, "u": alice.pk}, salt=proxy.GRANT_SALT)
    assert (await enter(app, ghost, grant)).status_code == 403
    cookie = signing.dumps({"p": ghost.pk, "u": alice.pk}, salt=proxy.COOKIE_SALT)
    assert (await get(app, ghost, "/", f"sd_preview={cookie}")).status_code == 403


async def test_a_cookie_for_one_preview_does_not_open_another(app, preview, alice, upstream):
    other = await make_preview(alice, upstream.url)
    cookie = await owner_cookie(app, preview, alice)

    assert (await get(app, preview, "/", cookie)).status_code == 200
    refused = await get(app, other, "/", cookie)

    assert refused.status_code == 403
    assert len(upstream.seen) == 1


async def test_a_forged_cookie_is_refused(app, preview, alice):
    cookie = await owner_cookie(app, preview, alice)
    assert (await get(app, preview, "/", cookie[:-2] + "xx")).status_code == 403
    # A grant is not a cookie: the salts differ.
    grant = proxy.grant_for_user(preview, alice)
    assert (await get(app, preview, "/", f"sd_preview={grant}")).status_code == 403


# --- share grants ------------------------------------------------------------------------------


async def share_preview(owner, preview: Preview, hours: int = 1):
    return await sync_to_async(comparisons.share_create)(
        owner=owner, preview=preview, expires_in=timedelta(hours=hours)
    )


async def test_a_share_grant_works_until_the_share_is_revoked(
    app, preview, alice, upstream, monkeypatch
):
    monkeypatch.setattr(proxy, "ACCESS_CACHE_SECONDS", 0)
    share = await share_preview(alice, preview)
    grant = proxy.grant_for_share(preview, share)
    cookie = await cookie_for(app, preview, grant)
    assert (await get(app, preview, "/", cookie)).status_code == 200

    await sync_to_async(comparisons.share_revoke)(share=share)

    assert (await get(app, preview, "/", cookie)).status_code == 403
    assert (await enter(app, preview, grant)).status_code == 403
    communicator = ws_communicator(app, preview, cookie)
    await communicator.connect(timeout=5)
    assert (await communicator.receive_output(timeout=5))["code"] == proxy.CLOSE_REFUSED
    assert len(upstream.seen) == 1


async def test_access_is_cached_only_briefly(app, preview, alice, upstream, monkeypatch):
    share = await share_preview(alice, preview)
    cookie = await cookie_for(app, preview, proxy.grant_for_share(preview, share))
    assert (await get(app, preview, "/", cookie)).status_code == 200
    await sync_to_async(comparisons.share_revoke)(share=share)

    assert (await get(app, preview, "/", cookie)).status_code == 200  # within the cache time
    monkeypatch.setattr(proxy, "ACCESS_CACHE_SECONDS", 0)
    assert (await get(app, preview, "/", cookie)).status_code == 403


async def test_an_expired_share_grant_is_refused(app, preview, alice):
    share = await share_preview(alice, preview)
    share.expires_at = timezone.now() - timedelta(seconds=1)
    await share.asave()
    assert (await enter(app, preview, proxy.grant_for_share(preview, share))).status_code == 403


async def test_a_comparison_share_opens_only_that_comparisons_previews(
    app, preview, alice, upstream, starter
):
    other = await make_preview(alice, upstream.url)
    comparison = await Comparison.objects.acreate(owner=alice, title="c", manifest=starter)
    await Version.objects.acreate(comparison=comparison, label="A", prompt="p", preview=preview)
    share = await sync_to_async(comparisons.share_create)(
        owner=alice, comparison=comparison, expires_in=timedelta(hours=1)
    )

    cookie = await cookie_for(app, preview, proxy.grant_for_share(preview, share))
    assert (await get(app, preview, "/", cookie)).status_code == 200
    assert (await enter(app, other, proxy.grant_for_share(other, share))).status_code == 403


async def test_a_share_of_one_preview_does_not_open_another(app, preview, alice, upstream):
    other = await make_preview(alice, upstream.url)
    share = await share_preview(alice, preview)
    assert (await enter(app, other, proxy.grant_for_share(other, share))).status_code == 403


# --- previews that are not serving -------------------------------------------------------------


async def test_a_starting_preview_answers_503_starting(app, alice, upstream):
    preview = await make_preview(alice, "", status=Preview.Status.STARTING)
    cookie = await owner_cookie(app, preview, alice)

    response = await get(app, preview, "/", cookie)

    assert response.status_code == 503
    assert "Starting" in response.text
    assert 'http-equiv="refresh"' in response.text


@pytest.mark.parametrize("status", [Preview.Status.STOPPED, Preview.Status.FAILED])
async def test_a_preview_that_is_not_running_answers_503_offline(app, alice, upstream, status):
    preview = await make_preview(alice, upstream.url, status=status)
    cookie = await owner_cookie(app, preview, alice)

    response = await get(app, preview, "/", cookie)

    assert response.status_code == 503
    assert "Preview offline" in response.text
    assert upstream.seen == []


async def test_an_upstream_that_is_down_answers_502(app, alice):
    from sandboxes.previews import free_host_port

    preview = await make_preview(alice, f"http://127.0.0.1:{free_host_port()}/")
    cookie = await owner_cookie(app, preview, alice)

    response = await get(app, preview, "/", cookie)

    assert response.status_code == 502
    assert "Preview offline" in response.text
    # Nothing runs there (no process group either): the preview is marked failed, and the
    # next request is told so at once.
    await preview.arefresh_from_db()
    assert preview.status == Preview.Status.FAILED
    assert "exited after it was ready" in preview.error
    again = await get(app, preview, "/", cookie)
    assert again.status_code == 503 and "(failed)" in again.text


async def test_a_websocket_to_an_upstream_that_is_down_does_not_crash(app, alice):
    from sandboxes.previews import free_host_port

    preview = await make_preview(alice, f"http://127.0.0.1:{free_host_port()}/")
    cookie = await owner_cookie(app, preview, alice)
    communicator = ws_communicator(app, preview, cookie)

    await communicator.send_input({"type": "websocket.connect"})
    await communicator.wait(timeout=5)  # the app returns without accepting: the server closes
