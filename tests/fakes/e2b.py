"""E2B, faked below the `e2b` package: nothing leaves the process.

Everything above the `e2b` package stays real in the tests that use these: the session form and
view, `services`, the E2B backend's client options, and the SDK's `E2BSandboxClient` with its
session lifecycle. Below it:

* `e2b_http` replaces httpx's transport (the lowest point the e2b package talks through). Every
  request fails the way it would with no internet; a test can answer instead. Not autouse: a
  module that wants it for every test says `pytest.mark.usefixtures("e2b_http")`.
* `e2b_cloud` replaces `e2b.AsyncSandbox` / `e2b_code_interpreter.AsyncSandbox`, the classes the
  SDK imports, with a small in-memory sandbox that records what `create()` receives and runs
  just the commands the SDK issues to set up a workspace (anything else fails loudly).
* `cloud` is the same with pause, kill and set_timeout recorded too (LifecycleCloud), offline
  and with a key.

Registered for every test module by tests/conftest.py (`pytest_plugins`).
"""

from __future__ import annotations

import posixpath
import shlex
from types import SimpleNamespace
from typing import Any, ClassVar

import e2b
import e2b_code_interpreter
import httpx
import pytest
from e2b.exceptions import SandboxException, SandboxNotFoundException
from e2b.sandbox.commands.command_handle import CommandExitException, CommandResult

import sandboxes.tasks
from sandboxes import services
from sandboxes.models import SandboxSession

E2B_KEY = "e2b_" + "0123456789abcdef" * 2 + "01234567"
ROOT = "/workspace"  # the SDK manifest's default root, which the dashboard keeps


# --- The network: httpx, replaced ----------------------------------------------------------------


class FakeNetwork:
    """Every HTTP request the e2b package makes; unanswered ones fail as if offline."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.handler = None

    async def handle(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        if self.handler is None:
            raise httpx.ConnectError("no route to host (tests run offline)", request=request)
        return self.handler(request)


@pytest.fixture
def e2b_http(monkeypatch) -> FakeNetwork:
    """httpx offline: every request of the `e2b` package is recorded and fails (or is answered
    by `handler`). The MCP client talks through httpx2, which this leaves alone."""
    network = FakeNetwork()

    async def handle_async_request(transport, request):
        return await network.handle(request)

    def handle_request(transport, request):
        raise httpx.ConnectError("no route to host (tests run offline)", request=request)

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", handle_async_request)
    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle_request)
    return network


# --- E2B sandboxes: the SDK's sandbox classes, replaced ------------------------------------------


class FakeFiles:
    def __init__(self, sandbox: FakeSandbox) -> None:
        self.sandbox = sandbox

    async def write(self, path: str, data: bytes, request_timeout: float | None = None):
        self.sandbox.check_running()
        if self.sandbox.cloud.fail_writes:
            raise SandboxException("500: envd could not write the file")
        self.sandbox.add_dir(posixpath.dirname(path))  # E2B creates missing parents
        self.sandbox.files_on_disk[path] = bytes(data)
        self.sandbox.written.append(path)
        return SimpleNamespace(path=path)

    async def make_dir(self, path: str, request_timeout: float | None = None):
        self.sandbox.check_running()
        self.sandbox.add_dir(path)
        return True

    async def read(self, path: str, format: str = "text", request_timeout=None):
        self.sandbox.check_running()
        try:
            data = self.sandbox.files_on_disk[path]
        except KeyError:
            raise e2b.NotFoundException(f"{path} not found") from None
        return data if format == "bytes" else data.decode()

    async def remove(self, path: str, request_timeout: float | None = None):
        self.sandbox.check_running()
        self.sandbox.files_on_disk.pop(path, None)


class FakeCommands:
    def __init__(self, sandbox: FakeSandbox) -> None:
        self.sandbox = sandbox

    async def run(self, cmd: str, **kwargs):
        self.sandbox.check_running()
        self.sandbox.commands_run.append(cmd)
        exit_code, stdout, stderr = self.sandbox.execute(shlex.split(cmd))
        if exit_code:  # the real e2b client raises on a non-zero exit
            raise CommandExitException(stderr=stderr, stdout=stdout, exit_code=exit_code, error="")
        return CommandResult(stderr=stderr, stdout=stdout, exit_code=0, error=None)


class FakeSandbox:
    """An E2B sandbox with an in-memory filesystem; `cloud` and `kind` are set per test."""

    cloud: ClassVar[FakeE2BCloud]
    kind: ClassVar[str]

    def __init__(self, sandbox_id: str) -> None:
        self.sandbox_id = sandbox_id
        self.status = "running"
        self.dirs = {"/", "/tmp"}
        self.files_on_disk: dict[str, bytes] = {}
        self.executables: set[str] = set()
        self.written: list[str] = []
        self.commands_run: list[str] = []
        self.files = FakeFiles(self)
        self.commands = FakeCommands(self)

    # The signature of e2b's AsyncSandbox.create, so the SDK filters its kwargs the same way.
    @classmethod
    async def create(
        cls,
        template=None,
        timeout=None,  # noqa: ASYNC109 (e2b's own parameter)
        metadata=None,
        envs=None,
        secure=True,
        allow_internet_access=True,
        mcp=None,
        network=None,
        lifecycle=None,
        volume_mounts=None,
        logger=None,
        **opts,
    ):
        received = {
            "template": template,
            "timeout": timeout,
            "metadata": metadata,
            "envs": envs,
            "secure": secure,
            "allow_internet_access": allow_internet_access,
            "mcp": mcp,
            "network": network,
            "lifecycle": lifecycle,
            "volume_mounts": volume_mounts,
            **opts,
        }
        cls.cloud.creates.append((cls.kind, received))
        if cls.cloud.create_error is not None:
            raise cls.cloud.create_error
        sandbox = cls(f"sbx-fake-{len(cls.cloud.sandboxes) + 1}")
        cls.cloud.sandboxes[sandbox.sandbox_id] = sandbox
        return sandbox

    @classmethod
    async def connect(cls, sandbox_id: str, timeout=None, **opts):  # noqa: ASYNC109
        cls.cloud.connects.append(sandbox_id)
        sandbox = cls.cloud.sandboxes.get(sandbox_id)
        if sandbox is None or sandbox.status == "killed":
            raise SandboxNotFoundException(f"Sandbox {sandbox_id} not found")
        sandbox.status = "running"  # connecting resumes a paused sandbox
        return sandbox

    async def kill(self, **opts) -> bool:
        self.status = "killed"
        return True

    async def pause(self, **opts) -> str:
        self.status = "paused"
        return self.sandbox_id

    async def is_running(self, request_timeout=None) -> bool:
        return self.status == "running"

    def get_host(self, port: int) -> str:
        return f"{port}-{self.sandbox_id}.e2b.app"

    def check_running(self) -> None:
        if self.status != "running":
            raise SandboxException(f"Sandbox {self.sandbox_id} is {self.status}")

    def add_dir(self, path: str) -> None:
        while path not in self.dirs:
            self.dirs.add(path)
            path = posixpath.dirname(path)

    def exists(self, path: str) -> bool:
        return path in self.dirs or path in self.files_on_disk

    def execute(self, argv: list[str]) -> tuple[int, str, str]:
        """The shell commands the SDK sends while setting a workspace up, and only those."""
        match argv:
            case ["test", "-d", path]:
                return (0 if path in self.dirs else 1), "", ""
            case ["test", "-x", path]:
                return (0 if path in self.executables else 1), "", ""
            case ["mkdir", "-p", "--", path]:
                self.add_dir(path)
                return 0, "", ""
            case ["sh", "-c", script, "sh", dest] if "INSTALL_RUNTIME_HELPER_V1" in script:
                self.add_dir(posixpath.dirname(dest))
                self.files_on_disk[dest] = script.encode()
                self.executables.add(dest)
                return 0, "", ""
            case [helper, root, candidate, ("0" | "1" | "2"), *_] if helper in self.executables:
                # resolve-workspace-path: prints the resolved path when it stays under root.
                resolved = posixpath.normpath(candidate)
                if resolved == root or resolved.startswith(root + "/"):
                    return 0, resolved + "\n", ""
                return 111, "", f"path escapes the workspace: {candidate}\n"
            case ["chmod", _mode, path]:
                if self.exists(path):
                    return 0, "", ""
                return 1, "", f"chmod: cannot access '{path}': No such file or directory\n"
        return 127, "", f"fake sandbox: unsupported command: {shlex.join(argv)}\n"


class FakeE2BCloud:
    def __init__(self) -> None:
        self.creates: list[tuple[str, dict[str, Any]]] = []
        self.connects: list[str] = []
        self.sandboxes: dict[str, FakeSandbox] = {}
        self.create_error: BaseException | None = None
        self.fail_writes = False

    def sandbox_class(self, kind: str) -> type[FakeSandbox]:
        return type(f"FakeSandbox_{kind}", (FakeSandbox,), {"cloud": self, "kind": kind})

    def only_sandbox(self) -> FakeSandbox:
        [sandbox] = self.sandboxes.values()
        return sandbox


@pytest.fixture
def e2b_cloud(monkeypatch) -> FakeE2BCloud:
    cloud = FakeE2BCloud()
    monkeypatch.setattr(e2b, "AsyncSandbox", cloud.sandbox_class("e2b"))
    monkeypatch.setattr(e2b_code_interpreter, "AsyncSandbox", cloud.sandbox_class("code"))
    return cloud


# --- The dashboard around it ---------------------------------------------------------------------


@pytest.fixture
def e2b_key(monkeypatch, settings):
    monkeypatch.setenv("E2B_API_KEY", E2B_KEY)
    settings.E2B_API_KEY_SET = True  # what the page template reads (computed at startup)


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple]:
    """Background starts the view asked for; the tests run `session_start` themselves."""
    calls: list[tuple] = []
    monkeypatch.setattr(
        sandboxes.tasks,
        "session_start_task",
        SimpleNamespace(enqueue=lambda *args: calls.append(args)),
    )
    return calls


def form_data(**overrides) -> dict[str, str]:
    """What the browser posts for the E2B options, checkboxes included only when checked."""
    data = {
        "name": "cloud box",
        "backend": "e2b",
        "sandbox_type": "e2b",
        "template": "",
        "timeout": "",
        "allow_internet_access": "on",
        "auto_resume": "on",  # checked by default, like internet access
        "on_timeout": "pause",
        "exposed_ports": "4173",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


async def e2b_session(owner, manifest, name: str = "cloud box", **options) -> SandboxSession:
    """An E2B session started on the fake cloud (a 600 s timeout unless told otherwise)."""
    session = await SandboxSession.objects.acreate(
        owner=owner,
        manifest=manifest,
        name=name,
        backend="e2b",
        options={"exposed_ports": [], "timeout": 600, **options},
    )
    await services.session_start(session_id=session.pk)
    await session.arefresh_from_db()
    assert session.status == SandboxSession.Status.RUNNING, session.last_error
    return session


# --- E2B with its lifecycle recorded -------------------------------------------------------------


class LifecycleSandbox(FakeSandbox):
    """The fake E2B sandbox, also recording pause, kill and set_timeout."""

    cloud: LifecycleCloud

    async def set_timeout(self, timeout: int, **opts) -> None:  # noqa: ASYNC109 (e2b's own)
        self.check_running()  # E2B extends a running sandbox
        self.cloud.timeouts.append((self.sandbox_id, timeout))

    async def pause(self, **opts) -> str:
        self.cloud.pauses.append(self.sandbox_id)
        return await super().pause(**opts)

    async def kill(self, **opts) -> bool:
        self.cloud.kills.append(self.sandbox_id)
        return await super().kill(**opts)


class LifecycleCloud(FakeE2BCloud):
    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[tuple[str, int]] = []
        self.pauses: list[str] = []
        self.kills: list[str] = []

    def sandbox_class(self, kind: str) -> type[LifecycleSandbox]:
        return type(f"LifecycleSandbox_{kind}", (LifecycleSandbox,), {"cloud": self, "kind": kind})


@pytest.fixture
def cloud(monkeypatch, e2b_http, e2b_key) -> LifecycleCloud:
    """E2B faked with its lifecycle recorded, offline, with a key."""
    cloud = LifecycleCloud()
    monkeypatch.setattr(e2b, "AsyncSandbox", cloud.sandbox_class("e2b"))
    monkeypatch.setattr(e2b_code_interpreter, "AsyncSandbox", cloud.sandbox_class("code"))
    return cloud
