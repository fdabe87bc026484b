"""Previews on their own origin, through the dashboard: p<id>.<PREVIEW_DOMAIN>.

The dashboard hands out short-lived signed *grants* (sandboxes.grants: for the session's
owner, or for a share link) in the iframe's first URL; the proxy trades a grant for a cookie
on the preview's own host, then checks that cookie's grant on every request and websocket, so
revoking a share or stopping a preview shuts viewers out at once. HTTP and websockets (Vite's
HMR) pass through asgiproxy; Host and Origin are rewritten to what the dev server expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from urllib.parse import parse_qs, quote, urlsplit

import aiohttp
from asgiproxy.config import ProxyConfig
from asgiproxy.context import ProxyContext
from asgiproxy.proxies.http import proxy_http
from asgiproxy.proxies.websocket import WebSocketProxyContext
from django.conf import settings
from django.core import signing
from django.http.cookie import parse_cookie
from django.template.loader import render_to_string
from starlette.websockets import WebSocket
from yarl import URL

from lib.origins import is_same_origin, request_scheme, scope_header

from .grants import ENTER_PATH, GRANT_MAX_AGE, GRANT_SALT, grant_allows
from .hosts import elsewhere_reason
from .models import Preview
from .previews import preview_check
from .static_sites import serve_static_site, static_site_for

COOKIE_SALT = "sandboxes.preview.cookie"
COOKIE_NAME = "sd_preview"
ACCESS_CACHE_SECONDS = 2.0
CLOSE_REFUSED = 4403
logger = logging.getLogger(__name__)
ENTER_BODY_LIMIT = 16_384
# The enter page only posts its fragment to itself: nothing else may load, nothing may leak.
ENTER_PAGE_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        b"form-action 'self'",
    ),
    (b"referrer-policy", b"no-referrer"),
]


def _private_cookies() -> set[str]:
    return {COOKIE_NAME, settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME}


def preview_cookie(grant: dict) -> str:
    """The value of the preview host's cookie that carries `grant` (checked on each request)."""
    return signing.dumps(grant, salt=COOKIE_SALT)


def preview_host_pattern() -> re.Pattern[str]:
    return re.compile(rf"^p(?P<id>\d+)\.{re.escape(settings.PREVIEW_DOMAIN)}(?::\d+)?$", re.I)


def origin_form_target(scope) -> bool:
    """Whether the request target is a path (`/x?y`): absolute-form (`http://host/x`),
    authority-form (`host:port`), `*` and anything else that is not a path are refused."""
    raw = scope.get("raw_path") or scope["path"].encode()
    return scope["path"].startswith("/") and raw.startswith(b"/")


def upstream_url(upstream: str, scope) -> URL:
    """The dev server's URL for this request: its scheme, host and port, the request's path.

    Built from parts, never by gluing strings: with `http://127.0.0.1:5173` + `@host:port/x`
    the dev server's address would become a user name and the request would go to `host`.
    """
    base = urlsplit(upstream)
    raw = scope.get("raw_path") or quote(scope["path"]).encode()
    path = raw.split(b"?", 1)[0].decode("latin-1")  # some servers put the query in raw_path
    if not path.startswith("/"):
        raise ValueError(f"Not a path: {path!r}")
    return URL.build(
        scheme=base.scheme,
        host=base.hostname or "",
        port=base.port,
        path=path,
        query_string=scope.get("query_string", b"").decode("latin-1"),
        encoded=True,
    )


class _UpstreamConfig(ProxyConfig):
    def get_upstream_url_with_query(self, *, scope) -> URL:  # type: ignore[override]
        return upstream_url(scope["preview_upstream"], scope)

    def process_client_headers(self, *, scope, headers):
        upstream = urlsplit(scope["preview_upstream"])
        headers = headers.mutablecopy()
        headers["host"] = upstream.netloc.replace("127.0.0.1", "localhost")
        if "origin" in headers:
            headers["origin"] = f"{upstream.scheme}://{headers['host']}"
        # The app's own cookies pass; ours (and the dashboard's, should a cookie domain ever
        # cover preview hosts) stay here.
        kept = [
            f"{name}={value}"
            for name, value in parse_cookie(headers.get("cookie", "")).items()
            if name not in _private_cookies()
        ]
        if kept:
            headers["cookie"] = "; ".join(kept)
        elif "cookie" in headers:
            del headers["cookie"]
        return headers

    def process_upstream_headers(self, *, scope, proxy_response):
        headers = proxy_response.headers.copy()
        headers.popall("X-Frame-Options", None)
        return headers


class PreviewProxy:
    """ASGI app: preview hosts go to their dev servers, everything else to the dashboard."""

    def __init__(self, dashboard_app) -> None:
        self.dashboard_app = dashboard_app
        self.context = ProxyContext(_UpstreamConfig(), max_concurrency=64)
        self._access: dict[tuple[int, str], tuple[float, Preview | None]] = {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            if not origin_form_target(scope):
                await self.refuse(scope, receive, send, 400, "bad_request_target")
                return
            host = scope_header(scope, b"host")
            if match := preview_host_pattern().match(host):
                await self.serve(int(match["id"]), scope, receive, send)
                return
        await self.dashboard_app(scope, receive, send)

    async def serve(self, preview_id: int, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == ENTER_PATH:
            await self.enter(preview_id, scope, receive, send)
            return
        if scope["type"] == "websocket" and not is_same_origin(scope):
            # Only the preview's own page opens its sockets: not a dev server's page on
            # another port, not another preview (same site, so it holds this cookie too).
            await self.refuse(scope, receive, send, 403, "preview_refused")
            return
        preview = await self.allowed(preview_id, scope)
        if preview is None:
            await self.refuse(scope, receive, send, 403, "preview_refused")
            return
        if not preview.is_serving:
            await self.offline(preview, scope, receive, send, 503)
            return
        if preview.session.elsewhere:
            # Its dev server listens on another machine's loopback: route this preview's host
            # to the dashboard there (sandboxes/hosts.py).
            await self.refuse(
                scope,
                receive,
                send,
                503,
                "preview_offline",
                preview=preview,
                elsewhere=elsewhere_reason(preview.session),
            )
            return
        scope = dict(scope, preview_upstream=preview.upstream_url)
        try:
            if scope["type"] == "http":
                await proxy_http(context=self.context, scope=scope, receive=receive, send=send)
            else:
                await self.websocket(preview_id, scope, receive, send)
        except (aiohttp.ClientError, OSError):
            await preview_check(preview=preview)
            self._access.clear()
            if scope["type"] == "http":
                await self.offline(preview, scope, receive, send, 502)

    async def offline(self, preview: Preview, scope, receive, send, status: int) -> None:
        """No dev server: the stored site this grant may see instead (a share's snapshot),
        or the "offline" page. A stored site has no websockets (no HMR to speak to)."""
        grant = self.cookie_grant(scope)
        site = await static_site_for(grant, preview) if grant is not None else None
        if site is not None and scope["type"] == "http":
            await serve_static_site(site, scope, send)
        else:
            await self.refuse(scope, receive, send, status, "preview_offline", preview=preview)

    async def websocket(self, preview_id: int, scope, receive, send) -> None:
        """Proxy a websocket (Vite's HMR) while access lasts: a revoked share or a stopped
        preview closes it within ACCESS_CACHE_SECONDS, not at the viewer's next reload."""
        proxying = asyncio.ensure_future(
            proxy_websocket(context=self.context, scope=scope, receive=receive, send=send)
        )
        try:
            while not proxying.done():
                await asyncio.wait({proxying}, timeout=ACCESS_CACHE_SECONDS)
                if proxying.done():
                    break
                preview = await self.allowed(preview_id, scope)
                if preview is None or preview.status != Preview.Status.READY:
                    proxying.cancel()
        finally:
            if not proxying.done():
                proxying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await proxying

    async def enter(self, preview_id: int, scope, receive, send) -> None:
        """Trade a grant for this host's cookie.

        The iframe's URL carries the grant in its fragment, which browsers never send: a GET
        gets a page whose script posts it here. Query strings end up in access logs (daphne's,
        a proxy's); fragments and bodies do not.
        """
        if scope["method"] in ("GET", "HEAD"):
            html = render_to_string("sandboxes/preview_enter.html", {"enter_path": ENTER_PATH})
            await _send_html(send, 200, html, ENTER_PAGE_HEADERS)
            return
        if scope["method"] != "POST":
            await _send_html(send, 405, "", [(b"allow", b"GET, POST")])
            return
        form = parse_qs((await _read_body(receive, ENTER_BODY_LIMIT)).decode("latin-1"))
        try:
            grant = signing.loads(
                form.get("grant", [""])[0], salt=GRANT_SALT, max_age=GRANT_MAX_AGE
            )
        except signing.BadSignature:
            grant = None
        if grant is None or await grant_allows(grant, preview_id) is None:
            await _send_html(send, 403, render_to_string("sandboxes/preview_refused.html"))
            return
        cookie = preview_cookie(grant)
        host = scope_header(scope, b"host")
        # request_scheme: behind a TLS proxy daphne sees http, the browser https.
        secure = request_scheme(scope) == "https" or host.split(":")[0].endswith(".localhost")
        # The preview lives in an iframe on another site: its cookie must be SameSite=None
        # (hence Secure, which browsers allow on *.localhost) and Partitioned (CHIPS), so it
        # still works where third-party cookies are blocked.
        attributes = f"Path=/; Max-Age={settings.PREVIEW_COOKIE_SECONDS}; HttpOnly; " + (
            "SameSite=None; Secure; Partitioned" if secure else "SameSite=Lax"
        )
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", b"/"),
                    (b"cache-control", b"no-store"),
                    (b"set-cookie", f"{COOKIE_NAME}={cookie}; {attributes}".encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    def cookie_grant(scope) -> dict | None:
        """The grant in this request's preview cookie, if it is authentic and unexpired."""
        # parse_cookie tolerates the odd cookie an app sets; SimpleCookie would drop them all.
        value = parse_cookie(scope_header(scope, b"cookie")).get(COOKIE_NAME)
        if value is None:
            return None
        try:
            return signing.loads(value, salt=COOKIE_SALT, max_age=settings.PREVIEW_COOKIE_SECONDS)
        except signing.BadSignature:
            return None

    async def allowed(self, preview_id: int, scope) -> Preview | None:
        value = parse_cookie(scope_header(scope, b"cookie")).get(COOKIE_NAME)
        if value is None:
            return None
        key = (preview_id, value)
        now = time.monotonic()
        cached = self._access.get(key)
        if cached and now - cached[0] < ACCESS_CACHE_SECONDS:
            return cached[1]
        grant = self.cookie_grant(scope)
        if grant is None:
            return None
        preview = await grant_allows(grant, preview_id)
        if len(self._access) > 10_000:
            self._access.clear()
        if preview is None or preview.status == Preview.Status.READY:
            # A booting preview is not cached: its first 200 must not wait for the cache.
            self._access[key] = (now, preview)
        return preview

    async def refuse(self, scope, receive, send, status: int, template: str, **context) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": CLOSE_REFUSED})
            return
        html = render_to_string(f"sandboxes/{template}.html", context)
        await _send_html(send, status, html)


async def _read_body(receive, limit: int) -> bytes:
    """The request body, up to `limit` bytes (the rest is read and dropped)."""
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body
        body = (body + message.get("body", b""))[:limit]
        if not message.get("more_body", False):
            return body


async def _send_html(send, status: int, html: str, headers=()) -> None:
    body = html.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --- websockets: asgiproxy's two pumps, ended cleanly -------------------------------------------


class _PreviewSocket(WebSocketProxyContext):
    """One proxied socket. Unlike asgiproxy's own loop, a close from either side is a normal
    end, and both pumps are always stopped and awaited (also when access ends and the socket
    is cancelled): nothing is left running, and no "Task exception was never retrieved"
    traceback reaches the server log when an HMR socket closes."""

    async def upstream_to_client_loop(self) -> None:
        while True:
            message = await self.upstream_ws.receive()
            if message.type in _SOCKET_ENDS:
                return
            await self.send_upstream_to_client(upstream_msg=message)

    async def loop(self) -> None:
        pumps = [
            asyncio.create_task(self.client_to_upstream_loop()),
            asyncio.create_task(self.upstream_to_client_loop()),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            ended = await asyncio.gather(*pumps, return_exceptions=True)
            for outcome in ended:
                if isinstance(outcome, Exception):  # a socket gone mid-message: one line
                    logger.info("Preview socket %s ended: %r", self.id, outcome)


_SOCKET_ENDS = {
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.ERROR,
}


async def proxy_websocket(*, context: ProxyContext, scope, receive, send) -> None:
    """asgiproxy's proxy_websocket, with _PreviewSocket's pumps."""
    client_ws = WebSocket(scope=scope, receive=receive, send=send)
    options = context.config.get_upstream_websocket_options(scope=scope, client_ws=client_ws)
    try:
        async with context.session.ws_connect(**options) as upstream_ws:
            await client_ws.accept(subprotocol=upstream_ws.protocol)
            await _PreviewSocket(client_ws=client_ws, upstream_ws=upstream_ws).loop()
    finally:
        with contextlib.suppress(Exception):
            await client_ws.close()
