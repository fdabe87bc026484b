"""Item 3: nothing secret in any log line.

Two kinds of log: what the dashboard's loggers print (the MCP client logs each request URL
through `httpx2`), checked through the project's own console handler at INFO and at DEBUG; and
what daphne writes (its access log has every request line, query string included), checked by
grepping a real daphne's output after a real browser opened a preview and a share link.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from runs.mcp import connect_servers, http_server_spec

from ..e2e.conftest import login
from .conftest import make_preview

API_KEY = "PLANTED-api-key-4f9a1c"
HEADER_SECRET = "PLANTED-header-7d2e88"
PASSWORD = "PLANTED-password-1b3c"


@contextlib.contextmanager
def console_output(level: int):
    """What the project's console handler (settings.LOGGING) prints meanwhile, root at `level`."""
    root = logging.getLogger()
    handler = next(h for h in root.handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous_stream, previous_level = handler.setStream(stream), root.level
    root.setLevel(level)
    try:
        yield stream
    finally:
        root.setLevel(previous_level)
        handler.setStream(previous_stream)


@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
@pytest.mark.parametrize("httpx2_level", [None, logging.INFO])
def test_mcp_urls_and_headers_never_reach_the_log(mcp_server, level, httpx2_level):
    """At the default levels, at DEBUG, and with the chatty HTTP client turned back on."""
    url = mcp_server.url.replace("127.0.0.1", f"agent:{PASSWORD}@127.0.0.1")
    spec = http_server_spec(
        name="search", url=f"{url}?apiKey={API_KEY}", headers={"X-Api-Key": HEADER_SECRET}
    )
    httpx2 = logging.getLogger("httpx2")
    configured = httpx2.level
    if httpx2_level is not None:
        httpx2.setLevel(httpx2_level)

    async def use_the_server() -> list[str]:
        async with contextlib.AsyncExitStack() as stack:
            connected = await connect_servers([spec], None, stack)
            server, _, tools = connected[0]
            await server.call_tool("search", {"query": "sandboxes"})
            return tools

    try:
        with console_output(level) as output:
            # On a thread of its own: the browser tests' Playwright keeps a loop running here.
            with ThreadPoolExecutor(1) as thread:
                assert thread.submit(asyncio.run, use_the_server()).result(60) == ["search"]
    finally:
        httpx2.setLevel(configured)
    logged = output.getvalue()

    assert mcp_server.header_values("x-api-key")[0] == HEADER_SECRET  # it was really sent
    # Lines that name the URL are kept, without what is secret in it.
    if httpx2_level is not None:
        assert "HTTP Request: POST http://127.0.0.1" in logged
    if level == logging.DEBUG:
        assert "Connecting to StreamableHTTP endpoint: http://127.0.0.1" in logged
    for secret in (API_KEY, HEADER_SECRET, PASSWORD):
        assert secret not in logged, f"{secret} was logged:\n{logged}"


def test_grants_share_tokens_and_cookies_stay_out_of_daphnes_log(
    dashboard, dev_server, browser, page_errors
):
    preview_id = make_preview(dashboard, dev_server)
    alice = browser.new_context(base_url=dashboard.url)
    visitor = browser.new_context(base_url=dashboard.url)
    try:
        alice.on("page", page_errors.watch)
        page = login(alice, "alice")

        page.goto(f"/previews/{preview_id}/")
        frame_src = page.locator("iframe").get_attribute("src")
        app = page.frame_locator("iframe")
        expect(app.locator("h1")).to_have_text("the preview's own app", timeout=15_000)
        page.get_by_role("button", name="Create share link").click()
        share_url = page.get_by_test_id("share-url").first.input_value()

        public = visitor.new_page()
        page_errors.watch(public)
        public.goto(share_url)
        expect(public.frame_locator("iframe").locator("h1")).to_have_text(
            "the preview's own app", timeout=15_000
        )
        shared_frame_src = public.locator("iframe").get_attribute("src")
        # A mistyped link: the page says so, and its token is not logged either.
        wrong = re.sub(r"(\d+\.)[\w-]{32}", lambda m: m[1] + "A" * 32, share_url)
        assert wrong != share_url
        public.goto(wrong)
        expect(public.get_by_role("heading", level=1)).to_have_text("This link no longer works")
        cookies = alice.cookies() + visitor.cookies()
    finally:
        alice.close()
        visitor.close()

    logged = dashboard.logged()
    assert f"/previews/{preview_id}/" in logged  # the access log is on and was written
    secrets = {
        "owner's grant": grant_of(frame_src),
        "share's grant": grant_of(shared_frame_src),
        "share token": token_of(share_url),
        "mistyped token": token_of(wrong),
    }
    secrets |= {f"cookie {c['name']}": c["value"] for c in cookies if len(c["value"]) > 16}
    for name, value in secrets.items():
        assert value and value not in logged, f"the {name} is in daphne's log:\n{logged}"


def grant_of(url: str) -> str:
    match = re.search(r"grant=([^&#]+)", url)
    assert match, url
    return match[1]


def token_of(share_url: str) -> str:
    match = re.search(r"\d+\.[\w-]{32}", share_url)
    assert match, share_url
    return match[0]
