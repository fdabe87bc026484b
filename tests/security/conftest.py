"""A real dashboard for the attacks: daphne in a subprocess, as `make run` serves it.

`dashboard` is one daphne process for the whole suite on a throwaway SQLite database and data
directory, with alice and bob. Its stdout and stderr (daphne's access log and every log line
the dashboard writes) go to one file that tests can grep. `raw_http` speaks to it over a plain
socket, so a test can send request targets no HTTP client would produce.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import pytest

from ..conftest import PASSWORD
from ..e2e.conftest import ROOT, VENV_BIN, _free_port, serve_dashboard


@dataclass
class Dashboard:
    url: str
    port: int
    env: dict[str, str]
    log: Path
    tmp: Path

    def shell(self, code: str) -> str:
        """Run Python in `manage.py shell` against this dashboard's database; its stdout."""
        result = subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def logged(self) -> str:
        """Everything the server wrote so far: access log, warnings, tracebacks."""
        return self.log.read_text(errors="replace")

    def login(self, username: str) -> httpx.Client:
        """An HTTP client logged in through the real login form."""
        client = httpx.Client(base_url=self.url, timeout=20)
        page = client.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
        response = client.post(
            "/login/",
            data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        )
        assert response.status_code == 302, response.text
        return client

    def preview_host(self, preview_id: int) -> str:
        return f"p{preview_id}.preview.localhost:{self.port}"


@pytest.fixture(scope="session")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    tmp = tmp_path_factory.mktemp("security")
    with serve_dashboard(tmp) as (url, env, log):
        yield Dashboard(url=url, port=int(url.rsplit(":", 1)[1]), env=env, log=log, tmp=tmp)


def raw_http(port: int, request: bytes, timeout: float = 10) -> tuple[int, bytes]:
    """Send `request` as is on a fresh connection; the response's status and whole bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    data = b"".join(chunks)
    match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return (int(match[1]) if match else 0), data


@dataclass
class Canary:
    """An internal service nobody outside should reach: it records every request it gets."""

    port: int
    hits: list[str] = field(default_factory=list)


@pytest.fixture
def canary() -> Iterator[Canary]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(f"{self.command} {self.path}")
            body = b"CANARY: internal service reached"
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_PUT = do_DELETE = do_GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Canary(port=server.server_address[1], hits=hits)
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class DevServer:
    """A dev server stand-in in its own process group, as a preview's would be."""

    port: int
    pid: int


@pytest.fixture(scope="session")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    root = tmp_path_factory.mktemp("devserver")
    (root / "index.html").write_text("<h1>the preview's own app</h1>")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                threading.Event().wait(0.05)
        yield DevServer(port=port, pid=proc.pid)
    finally:
        proc.kill()
        proc.wait(timeout=5)


MAKE_PREVIEW = """
import json
from django.contrib.auth import get_user_model
from sandboxes.models import Preview, SandboxSession
owner = get_user_model().objects.get(username={owner!r})
session = SandboxSession.objects.create(
    owner=owner, name="attacked", backend="local", status="running",
    sdk_state={{"type": "unix_local", "manifest": {{"root": "/nonexistent"}}}},
)
preview = Preview.objects.create(
    session=session, status="ready", pid={pid}, upstream_url="http://127.0.0.1:{port}/",
)
print(json.dumps({{"preview": preview.pk, "session": session.pk}}))
"""


def make_preview(dashboard: Dashboard, dev_server: DevServer, owner: str = "alice") -> int:
    """A ready preview of `owner`'s, served by `dev_server`; its id."""
    out = dashboard.shell(
        MAKE_PREVIEW.format(owner=owner, pid=dev_server.pid, port=dev_server.port)
    )
    return json.loads(out.strip().splitlines()[-1])["preview"]


FRAME_SRC = re.compile(r'<iframe src="([^"]+)"')


def frame_url(page_html: str) -> str:
    match = FRAME_SRC.search(page_html)
    assert match, "the page shows no preview iframe"
    return match[1].replace("&amp;", "&")


def on_loopback(dashboard: Dashboard, url: str) -> tuple[str, dict[str, str]]:
    """`url` (on a *.localhost preview host, which only browsers resolve) as a loopback URL
    and the Host header that names it."""
    parts = urlsplit(url)
    target = urlunsplit(("http", f"127.0.0.1:{dashboard.port}", parts.path, parts.query, ""))
    return target, {"host": parts.netloc}


def enter_preview(dashboard: Dashboard, entry_url: str) -> str:
    """Follow a preview's iframe URL as the browser does (the enter page posts the grant
    from its fragment); the Cookie header the browser then sends."""
    url, headers = on_loopback(dashboard, entry_url)
    page = httpx.get(url, headers=headers, timeout=20)
    assert page.status_code == 200 and "location.hash" in page.text, page.text
    grant = parse_qs(urlsplit(entry_url).fragment)["grant"][0]
    response = httpx.post(url, data={"grant": grant}, headers=headers, timeout=20)
    assert response.status_code == 303, response.text
    return response.headers["set-cookie"].split(";")[0]


@pytest.fixture
async def run(alice, starter):
    """A run of alice's with one event in its log, for the websocket tests."""
    from runs.event_log import EventLog
    from runs.models import Run
    from sandboxes.models import SandboxSession

    session = await SandboxSession.objects.acreate(
        owner=alice, manifest=starter, name="s", status="running"
    )
    run = await Run.objects.acreate(owner=alice, session=session, config={}, prompt="p")
    await EventLog(run).emit("note", {"text": "alice's secret plan"})
    return run


# A real MCP server on loopback (tests/fakes/mcp.py), as the MCP tests use it.
from ..runs.test_mcp import mcp_server  # noqa: E402, F401
