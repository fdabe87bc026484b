"""Screenshots of previews, taken server-side by Debian's headless chromium.

The browser asks for the preview's own origin (`http://p<id>.<PREVIEW_DOMAIN>/`), and every
request it makes is answered by the dashboard's preview proxy (`sandboxes.proxy.PreviewProxy`,
called in this process: nothing depends on knowing the dashboard's address), carrying a
screenshot grant (`sandboxes.grants.grant_for_screenshot`: the session's owner, two minutes).
Requests to any other host are refused, so a preview's page cannot make the browser fetch
anything else. Vite's HMR websocket is answered by a silent stand-in: a still picture needs no
hot reload. The page is photographed once its network went idle, at the viewport asked for.

`screenshot_take` is a coroutine; chromium is driven on an event loop of its own in a worker
thread, so it never blocks the caller's loop (daphne's, a worker's) and any async caller can
`await` it. Sync code: `async_to_sync(screenshot_take)(session=...)`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from urllib.parse import unquote, urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.base import ContentFile

from lib.chromium import CHROMIUM_ARGS as BROWSER_ARGS
from lib.images import data_url, png_size

from .grants import grant_for_screenshot
from .models import Preview, SandboxSession, Screenshot

logger = logging.getLogger(__name__)

DEFAULT_VIEWPORT = (1280, 800)
MIN_SIDE, MAX_SIDE = 200, 4000
# Chromium takes ~150 MB a page: two at once at most per process.
_browsers = threading.BoundedSemaphore(2)
CHROMIUM_ARGS = [*BROWSER_ARGS, "--hide-scrollbars"]
# Hop-by-hop and length headers: the fulfilled response gets its own.
_DROPPED_RESPONSE_HEADERS = {"content-length", "transfer-encoding", "connection", "keep-alive"}


class ScreenshotFailed(Exception):
    """Why no picture could be taken (no ready preview, a page that never loaded...)."""


async def screenshot_take(
    *,
    session: SandboxSession,
    preview: Preview | None = None,
    viewport: tuple[int, int] = DEFAULT_VIEWPORT,
    path: str = "/",
) -> Screenshot:
    """Photograph `preview` (default: the session's newest ready preview) at `viewport`
    (width, height in CSS pixels; the PNG has exactly that size) and store it."""
    width, height = viewport
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise ScreenshotFailed(f"A viewport is {MIN_SIDE} to {MAX_SIDE} pixels a side.")
    if not path.startswith("/"):
        raise ScreenshotFailed("The page to photograph is a path on the preview, like /about.")
    if preview is None:
        preview = (
            await Preview.objects.filter(session=session, status=Preview.Status.READY)
            .select_related("session")
            .afirst()
        )
    else:
        preview = await Preview.objects.select_related("session").aget(pk=preview.pk)
    if preview is None or preview.session_id != session.pk:
        raise ScreenshotFailed("This sandbox has no running preview to photograph.")
    if preview.status != Preview.Status.READY:
        raise ScreenshotFailed(f"The preview is {preview.get_status_display().lower()}.")
    png = await asyncio.to_thread(_photograph_in_thread, preview, (width, height), path)
    return await sync_to_async(_store)(preview, png, path)


def _store(preview: Preview, png: bytes, path: str) -> Screenshot:
    width, height = png_size(png)
    shot = Screenshot(
        session_id=preview.session_id, preview=preview, path=path, width=width, height=height
    )
    name = f"s{preview.session_id}-p{preview.pk}-{secrets.token_hex(6)}.png"
    shot.image.save(name, ContentFile(png), save=True)
    return shot


def _photograph_in_thread(preview: Preview, viewport: tuple[int, int], path: str) -> bytes:
    with _browsers:
        return asyncio.run(_photograph(preview, viewport, path))


async def _photograph(preview: Preview, viewport: tuple[int, int], path: str) -> bytes:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    from .proxy import PreviewProxy, preview_cookie

    host = f"p{preview.pk}.{settings.PREVIEW_DOMAIN}"
    cookie = preview_cookie(grant_for_screenshot(preview))
    proxy = PreviewProxy(_not_a_preview)
    timeout_ms = settings.SCREENSHOT_TIMEOUT_SECONDS * 1000
    try:
        async with async_playwright() as playwright:
            try:
                browser = await playwright.chromium.launch(
                    executable_path=settings.CHROMIUM_PATH, args=CHROMIUM_ARGS, headless=True
                )
            except PlaywrightError as error:
                raise ScreenshotFailed(
                    f"Chromium did not start ({settings.CHROMIUM_PATH}): install Debian's "
                    "chromium (`make run` does)."
                ) from error
            try:
                context = await browser.new_context(
                    viewport={"width": viewport[0], "height": viewport[1]},
                    device_scale_factor=1,
                    service_workers="block",
                )
                await context.route(
                    "**/*", lambda route: _through_proxy(proxy, route, host=host, cookie=cookie)
                )
                # Vite's HMR socket: open and silent (not connected anywhere).
                await context.route_web_socket(lambda _url: True, lambda _ws: None)
                page = await context.new_page()
                try:
                    response = await page.goto(
                        f"http://{host}{path}", wait_until="networkidle", timeout=timeout_ms
                    )
                    await page.evaluate("document.fonts.ready.then(() => true)")
                except PlaywrightError as error:
                    raise ScreenshotFailed(f"The preview's page did not load: {error}") from error
                if response is None or response.status >= 400:
                    status = response.status if response else "no response"
                    raise ScreenshotFailed(f"The preview answered {status}.")
                return await page.screenshot(type="png", full_page=False, timeout=timeout_ms)
            finally:
                await browser.close()
    finally:
        await proxy.context.close()


async def _not_a_preview(scope, receive, send) -> None:
    """What the screenshot's proxy does with a host that is not the preview's: nothing."""
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _through_proxy(proxy, route, *, host: str, cookie: str) -> None:
    """Answer one of the browser's requests with the preview proxy's response."""
    from .proxy import COOKIE_NAME

    request = route.request
    url = urlsplit(request.url)
    if url.scheme != "http" or url.netloc != host:
        await route.abort("blockedbyclient")
        return
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in (await request.all_headers()).items()
        # Identity bodies: the response is handed to the browser as it comes.
        if name.lower() not in ("host", "cookie", "accept-encoding") and not name.startswith(":")
    ]
    headers += [(b"host", host.encode()), (b"cookie", f"{COOKIE_NAME}={cookie}".encode())]
    raw_path = (url.path or "/").encode("latin-1")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": unquote(url.path or "/"),
        "raw_path": raw_path,
        "query_string": url.query.encode("latin-1"),
        "headers": headers,
        "client": ("127.0.0.1", 0),
        "server": (host, 80),
    }
    body = request.post_data_buffer or b""
    finished = asyncio.Event()
    received = False

    async def receive():
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    response: dict = {"status": 502, "headers": {}, "body": b""}

    async def send(message):
        if message["type"] == "http.response.start":
            response["status"] = message["status"]
            for name, value in message.get("headers", []):
                key = name.decode("latin-1").lower()
                if key in _DROPPED_RESPONSE_HEADERS:
                    continue
                value = value.decode("latin-1")
                previous = response["headers"].get(key)
                response["headers"][key] = f"{previous}\n{value}" if previous else value
        elif message["type"] == "http.response.body":
            response["body"] += message.get("body", b"")

    try:
        await proxy(scope, receive, send)
    finally:
        finished.set()
    await route.fulfill(
        status=response["status"], headers=response["headers"], body=response["body"]
    )


def screenshot_tool_output(shot: Screenshot, *, detail: str = "auto"):
    """The SDK's image tool output for `shot` (a PNG data URL): what a function tool returns so
    the model sees the picture as an image input. Reads the file (a few hundred kB): from async
    code call it through `sync_to_async`, or use `screenshot_for_model`."""
    from agents import ToolOutputImage

    with shot.image.open("rb") as file:
        png = file.read()
    return ToolOutputImage(image_url=data_url(png, "image/png"), detail=detail)


async def screenshot_for_model(
    *,
    session: SandboxSession,
    preview: Preview | None = None,
    viewport: tuple[int, int] = DEFAULT_VIEWPORT,
    path: str = "/",
    detail: str = "auto",
):
    """Take a screenshot and return (Screenshot, ToolOutputImage): for a lane tool that hands
    its preview's picture to a coordinator."""
    shot = await screenshot_take(session=session, preview=preview, viewport=viewport, path=path)
    return shot, await sync_to_async(screenshot_tool_output)(shot, detail=detail)
