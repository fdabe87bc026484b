"""Browser end-to-end fixtures: the real daphne server in a subprocess, and Debian's chromium.

The server runs exactly as `make run` serves it (one daphne process, in-memory channel layer,
runs on the server's own loop, local sandboxes, the offline demo model), on a throwaway SQLite
database and data directory. Nothing here touches pytest-django's test database.

Also the steps several browser tests take (log in, open a sandbox, start a run) and the one
screenshot helper, `shot`, writing to test-artifacts/.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..browser import PageErrors
from ..conftest import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
ARTIFACTS = ROOT / "test-artifacts"
USERS = ("alice", "bob")
SERVER_START_TIMEOUT = 30
STARTER = "Vite + React starter"
STARTER_FILES = ["package.json", "index.html", "vite.config.js", "src/main.tsx", "src/App.tsx"]
RUN_TIMEOUT = 60_000
PREVIEW_URL = re.compile(r"^http://p(\d+)\.preview\.localhost:\d+/")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_DATA_DIRS: dict[Path, Path] = {}


def _data_dir(tmp: Path) -> Path:
    """The server's data directory (one per `tmp`), outside pytest's tree: as `make run` as
    root, local sandboxes run as the sandbox account, which must pass through the folders
    above its workspaces, and pytest keeps its own at 0700."""
    if tmp not in _DATA_DIRS:
        data = Path(tempfile.mkdtemp(prefix="sandbox-dashboard-test-", dir="/tmp"))
        data.chmod(0o711)
        atexit.register(shutil.rmtree, data, True)
        _DATA_DIRS[tmp] = data
    return _DATA_DIRS[tmp]


def _server_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"OPENAI_API_KEY", "E2B_API_KEY"}}
    # Whatever the developer's shell points at, this server gets its own of everything.
    for name in ("REDIS_URL", "TASKS_BACKEND", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    (tmp / "tmp").mkdir(exist_ok=True)
    env.update(
        DATABASE_URL=f"sqlite:///{tmp / 'e2e.sqlite3'}",
        DASHBOARD_DATA_DIR=str(_data_dir(tmp)),
        # alice and bob are not staff; npm's cache of the sandbox account survives the run.
        DASHBOARD_LOCAL_SANDBOXES="everyone",
        DASHBOARD_SANDBOX_CACHE=str(ROOT / ".local" / "test-sandbox-cache"),
        DEMO_MODEL_DELAY="0.05",
        DJANGO_DEBUG="true",
        AGENTS_TRACING="false",
        # Local sandboxes are tempfile.mkdtemp() directories: keep them inside tmp.
        TMPDIR=str(tmp / "tmp"),
        PYTHONUNBUFFERED="1",
    )
    return env


def _manage(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`manage.py args` in a subprocess with `env`; a failure fails the test (`check`)."""
    result = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"manage.py {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
    return result


CREATE_USERS = f"""
from django.contrib.auth import get_user_model
User = get_user_model()
for name in {USERS!r}:
    if not User.objects.filter(username=name).exists():
        User.objects.create_user(name, name + "@example.com", {PASSWORD!r})
"""


def _wait_for_server(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"daphne exited with {proc.returncode} before answering:\n{log.read_text()}",
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(
        f"daphne did not answer {url} within {SERVER_START_TIMEOUT}s:\n{log.read_text()}",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# base URL -> environment of each dashboard served here (server_shell runs code against it).
SERVED_ENVS: dict[str, dict[str, str]] = {}


def server_shell(base_url: str, code: str) -> str:
    """Run Python in `manage.py shell` against the served dashboard's database; its stdout."""
    return _manage(SERVED_ENVS[base_url], "shell", "-c", code).stdout


@contextlib.contextmanager
def serve_dashboard(tmp: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """A migrated, seeded dashboard with alice and bob, served by a real `daphne` as `make run`
    serves it; its base URL, environment and log (stdout and stderr: the access log too)."""
    env = _server_env(tmp)
    _manage(env, "migrate", "--noinput", "-v0")
    _manage(env, "seed")
    _manage(env, "shell", "-c", CREATE_USERS)

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    SERVED_ENVS[base_url] = env
    log_path = tmp / "daphne.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [VENV_BIN / "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_server(proc, f"{base_url}/login/", log_path)
        yield base_url, env, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, artifacts: Path
) -> Iterator[str]:
    """The dashboard served by a real `daphne` process; yields its base URL."""
    with serve_dashboard(tmp_path_factory.mktemp("e2e")) as (base_url, _env, log_path):
        try:
            yield base_url
        finally:
            shutil.copyfile(log_path, artifacts / "daphne.log")
            if request.session.testsfailed:
                log = log_path.read_text()
                sys.stderr.write(f"\n----- daphne log ({log_path}) -----\n{log}\n")


@contextlib.contextmanager
def context_factory(browser, errors: PageErrors) -> Iterator:
    """Makes fresh, isolated browser contexts (separate cookies: separate people) on a base URL;
    closes them all at the end. Their pages' JS errors are collected in `errors`."""
    contexts = []

    def make(base_url: str):
        context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        context.on("page", errors.watch)
        contexts.append(context)
        return context

    try:
        yield make
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def new_context(browser, server, page_errors):
    """Factory for fresh, isolated browser contexts on the shared test server."""
    with context_factory(browser, page_errors) as make:
        yield lambda: make(server)


def login(context, username: str):
    """A new page in `context`, logged in as `username` through the real login form."""
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: url.endswith("/") and "/login/" not in url)
    expect(page.locator(".who")).to_contain_text(username)
    return page


@pytest.fixture
def alice_page(new_context):
    return login(new_context(), "alice")


@pytest.fixture
def bob_page(new_context):
    return login(new_context(), "bob")


# --- screenshots and steps shared by the tests ---------------------------------------------------


def click_and_confirm(page, target, attempts: int = 3) -> None:
    """Click `target`, whose form asks "are you sure?" with confirm(), and accept the dialog.

    Headless Chromium now and then closes a page's dialog by itself before the test's answer
    reaches it (CI: "Dialog.accept: No dialog is showing", the form not sent): confirm() then
    returned false and nothing happened, as when a person clicks Cancel. Click again then, as
    that person would; a dialog that never comes, or any other failure, is the test's.
    """
    from playwright.sync_api import Error

    for attempt in range(attempts):
        answers: list[str] = []

        def answer(dialog, answers: list[str] = answers) -> None:
            try:
                dialog.accept()
            except Error as error:
                answers.append(str(error))
            else:
                answers.append("accepted")

        page.once("dialog", answer)
        target.click()
        for _ in range(100):  # the handler runs as the browser's events come in
            if answers:
                break
            page.wait_for_timeout(50)
        assert answers, "no confirmation dialog came within 5 s of the click"
        if answers[0] == "accepted":
            return
        if "No dialog is showing" not in answers[0] or attempt == attempts - 1:
            raise AssertionError(f"the confirmation could not be accepted: {answers[0]}")


def shot(page, name: str) -> None:
    """A full-page screenshot of `page` in test-artifacts/<name>.png."""
    # Previews are out-of-process iframes (another site): wait until each has painted, or the
    # full-page screenshot may catch one blank. One scrolled out of view never gets an animation
    # frame (Chromium throttles it): wait for it at most 1.5 s.
    from playwright.sync_api import Error

    for frame in page.frames:
        if PREVIEW_URL.match(frame.url):
            try:
                frame.evaluate(
                    "new Promise((r) => { requestAnimationFrame(() => setTimeout(r, 300));"
                    " setTimeout(r, 1500); })"
                )
            except Error:
                # It navigated meanwhile (the enter page's redirect, a reload): the picture
                # is only a record, what the test asserts was asserted before.
                page.wait_for_timeout(500)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def starter_card(page):
    # Not get_by_role("link", name=STARTER): a sandbox is named after its starter by default.
    return page.locator("a.card.link", has_text=STARTER)


def open_sandbox(page, *, screenshots: bool = False) -> int:
    """From the home page: open the Vite starter and create a local sandbox; returns its id."""
    from playwright.sync_api import expect

    page.goto("/")
    starter_card(page).click()
    page.wait_for_url(re.compile(r"/manifests/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(STARTER)
    listed = page.locator("ul.files code").all_inner_texts()
    assert set(STARTER_FILES) <= set(listed), listed
    expect(page.locator("#session-form select[name=backend]")).to_have_value("local")
    if screenshots:
        shot(page, "03-manifest")
    page.get_by_role("button", name="Create sandbox").click()
    page.wait_for_url(re.compile(r"/sessions/\d+/$"))
    session_id = int(re.search(r"/sessions/(\d+)/$", page.url).group(1))
    # The page polls while the sandbox is created; the run form appears once it runs.
    page.locator("#run-form").wait_for(timeout=30_000)
    expect(page.get_by_test_id("session-status")).to_have_text("Running")
    return session_id


def start_run(page, prompt: str, *, screenshots: bool = False) -> int:
    """On a running session's page: submit the run form; returns the run id."""
    from playwright.sync_api import expect

    form = page.locator("#run-form")
    form.locator("textarea[name=prompt]").fill(prompt)
    expect(form.locator("input[name=model]")).to_have_value("demo")
    if screenshots:
        shot(page, "05-run-form-filled")
    form.get_by_role("button", name="Start run").click()
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    return int(re.search(r"/runs/(\d+)/$", page.url).group(1))


def wait_until_finished(page) -> None:
    page.locator("[data-run-finished]").wait_for(timeout=RUN_TIMEOUT)


def follow_up(page, prompt: str) -> int:
    """On a session page with a conversation: send the next turn; returns its run id. The
    conversation is swapped in place (the page is not reloaded)."""
    from playwright.sync_api import expect

    turns = page.get_by_test_id("turn")
    before = turns.count()
    form = page.locator("#follow-up-form")
    form.locator("textarea[name=prompt]").fill(prompt)
    form.get_by_role("button", name="Send").click()
    expect(turns).to_have_count(before + 1)
    return int(turns.last.get_attribute("id").removeprefix("turn-"))


def turn(page, run_id: int):
    """One turn of the conversation on a session page."""
    return page.locator(f"#turn-{run_id}")


def wait_until_turn_finished(page, run_id: int) -> None:
    turn(page, run_id).locator("[data-run-finished]").wait_for(timeout=RUN_TIMEOUT)


# --- previews: local dev servers run detached, so the tests that start them stop them ---------

MAX_PREVIEW_ID = 40  # previews on the throwaway server: the versions and directions tests'


def alice_previews(page: Page) -> dict[int, str]:
    """alice's previews on this throwaway server, by id, with their status."""
    found = {}
    for n in range(1, MAX_PREVIEW_ID):
        response = page.request.get(f"/previews/{n}/")
        if response.status == 200:
            status = re.search(r'data-status="(\w+)"', response.text())
            found[n] = status.group(1) if status else "?"
    return found


@pytest.fixture
def alice(new_context) -> Iterator[Page]:
    """alice, logged in; her previews are stopped afterwards.

    A local dev server runs detached, in its own process group: terminating the daphne server
    leaves it running, and nothing else would ever stop it. The test stops them, through the app.
    """
    page = login(new_context(), "alice")
    yield page
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    for n, status in alice_previews(page).items():
        if status in ("starting", "ready"):
            page.request.post(f"/previews/{n}/stop/", headers={"X-CSRFToken": csrf})
