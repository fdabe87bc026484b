"""A real dashboard for the benchmarks that need one: daphne serving the embedded default (one
process, SQLite, in-memory channel layer, runs in the server, local sandboxes, the demo model)
on a throwaway database, from this tree or from `main` (the baseline; BENCH_BASELINE=<ref>
for another), plus a logged-in HTTP client that fills the dashboard's forms as a browser would.

    with Dashboard(tree, tmp / "data") as dash:
        client = dash.client()
        session_id = client.create_session()
        run_id = client.start_run(session_id, "A landing page for a bakery")
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "bench", "bench-password-1"
STARTER = "Vite + React starter"

CREATE_USER = f"""
from django.contrib.auth import get_user_model
User = get_user_model()
if not User.objects.filter(username={USER!r}).exists():
    User.objects.create_superuser({USER!r}, "bench@example.com", {PASSWORD!r})
"""


BASELINE = os.environ.get("BENCH_BASELINE", "main")


def baseline_tree(tmp: Path, ref: str = "") -> Path:
    """The code of `ref` (git archive; BENCH_BASELINE, default `main`) in tmp/<ref>, sharing
    this tree's virtualenv."""
    ref = ref or BASELINE
    tree = tmp / ref.replace("/", "-")
    tree.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    (tree / ".venv").symlink_to(ROOT / ".venv")
    return tree


def revision(tree: Path) -> str:
    if tree == ROOT:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        return out.stdout.strip() + ("+changes" if dirty else "")
    return BASELINE


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dashboard:
    """`daphne config.asgi:application` from `tree`, as `make run` serves it."""

    def __init__(self, tree: Path, data: Path, **env: str) -> None:
        self.tree = tree
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o711)  # local sandboxes run as the sandbox account when we are root
        (data / "tmp").mkdir(exist_ok=True)
        self.db = data / "bench.sqlite3"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"OPENAI_API_KEY", "E2B_API_KEY", "REDIS_URL", "DATABASE_URL"}
        }
        for name in ("TASKS_BACKEND", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS", "DJANGO_PRODUCTION"):
            self.env.pop(name, None)  # as `make run`: its defaults
        self.env.update(
            DATABASE_URL=f"sqlite:///{self.db}",
            DASHBOARD_DATA_DIR=str(data),
            DASHBOARD_SANDBOX_CACHE=str(ROOT / ".local" / "test-sandbox-cache"),
            AGENTS_TRACING="false",
            LOG_LEVEL="WARNING",
            TMPDIR=str(data / "tmp"),
            PYTHONUNBUFFERED="1",
            **env,
        )
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = data / "daphne.log"
        self.proc: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "python"), "manage.py", *args],
            cwd=self.tree,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def __enter__(self) -> Dashboard:
        self.manage("migrate", "--noinput", "-v0")
        self.manage("seed")
        self.manage("shell", "-c", CREATE_USER)
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [
                    ROOT / ".venv" / "bin" / "daphne",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "config.asgi:application",
                ],
                cwd=self.tree,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base_url}/login/", timeout=2):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"daphne exited:\n{self.log.read_text()}") from None
                time.sleep(0.2)
        raise RuntimeError(f"daphne did not answer:\n{self.log.read_text()}")

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def rss_mb(self) -> float:
        """The server process's resident memory, MB."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024

    def query(self, sql: str, *params) -> list[tuple]:
        with sqlite3.connect(self.db, timeout=30) as db:
            return db.execute(sql, params).fetchall()

    def client(self) -> Client:
        return Client(self)


class _Forms(HTMLParser):
    """Each <form>'s action and the fields a browser would send as they stand."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, list[str]]]] = []
        self._fields: dict[str, list[str]] | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "option" and self._select and self._fields is not None:
            if self._select not in self._fields or "selected" in a:
                self._fields[self._select] = [a.get("value", "")]
        elif tag == "form":
            self._fields = {}
            self.forms.append((a.get("action") or "", self._fields))
        elif self._fields is None or not a.get("name"):
            return
        elif tag == "input":
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button"):
                self._fields.setdefault(a["name"], []).append(a.get("value") or "")
        elif tag == "select":
            self._select = a["name"]
        elif tag == "textarea":
            self._textarea = a["name"]
            self._fields[a["name"]] = [""]

    def handle_data(self, data):
        if self._textarea and self._fields is not None:
            self._fields[self._textarea][0] += data.lstrip("\n")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._fields = None


class Client:
    """A logged-in browser without the browser: GET pages, submit their forms."""

    def __init__(self, dashboard: Dashboard) -> None:
        self.dash = dashboard
        self.http = httpx.Client(base_url=dashboard.base_url, timeout=120, follow_redirects=True)
        self.submit("/login/", "", {"username": USER, "password": PASSWORD})

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())

    def submit(self, page: str, action: str, fields: dict[str, str]) -> httpx.Response:
        parser = _Forms()
        parser.feed(self.http.get(page).text)
        form = next((f for a, f in parser.forms if action in a), None)
        if form is None:
            raise RuntimeError(f"no form posting to {action!r} on {page}")
        target = action or page
        response = self.http.post(
            target,
            data=form | {k: [v] for k, v in fields.items()},
            headers={"Referer": self.dash.base_url + page},
        )
        if response.status_code >= 400:
            raise RuntimeError(f"POST {target}: {response.status_code}\n{response.text}")
        return response

    def create_session(self, name: str) -> int:
        manifest = self.dash.query("SELECT id FROM sandboxes_manifest WHERE name = ?", STARTER)
        page = f"/manifests/{manifest[0][0]}/"
        response = self.submit(page, f"{page}sessions/", {"name": name, "backend": "local"})
        return int(re.search(r"/sessions/(\d+)/", str(response.url)).group(1))

    def wait_running(self, session_ids: list[int], timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        marks = ",".join("?" * len(session_ids))
        while time.monotonic() < deadline:
            rows = self.dash.query(
                f"SELECT status FROM sandboxes_sandboxsession WHERE id IN ({marks})", *session_ids
            )
            if all(status == "running" for (status,) in rows):
                return
            time.sleep(0.2)
        raise RuntimeError(f"sessions not running after {timeout}s: {rows}")

    def start_run(self, session_id: int, prompt: str) -> int:
        page = f"/sessions/{session_id}/"
        response = self.submit(page, f"/sessions/{session_id}/runs/", {"prompt": prompt})
        found = re.search(r"/runs/(\d+)/", str(response.url)) or re.search(
            r"/runs/(\d+)/", response.headers.get("HX-Redirect", "")
        )
        if found is None:
            raise RuntimeError(f"no run started: {response.status_code} {response.text}")
        return int(found.group(1))


def workdir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o711)
    return path


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
