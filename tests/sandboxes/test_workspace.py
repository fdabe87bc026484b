"""The workspace browser: tree, viewer, changes against the starter, zip, console; on the real
local backend (and on a stand-in for a remote sandbox), through the real views."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import time
import zipfile
from pathlib import Path

import pytest
from agents.sandbox.types import ExecResult
from django.test import AsyncClient
from django.urls import reverse

from lib.processes import process_group_alive
from sandboxes import manifests, services, workspace
from sandboxes.models import SandboxSession
from sandboxes.workspace import commands, remote

from ..conftest import start_local_session
from ..helpers import execute

pytestmark = pytest.mark.django_db(transaction=True)

PROMPT = "A dark dashboard for a green tea shop. Show today's teas and a loyalty counter."
BRAND = "Green Tea Shop"  # the demo's landing page is named after the brief's subject
SECRET = "top secret, outside the workspace"
# What htmx sends when the tree loads a file into the viewer (hx-target="#ws-viewer").
HTMX = {"HX-Request": "true", "HX-Target": "ws-viewer"}


@pytest.fixture
async def client(alice) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(alice)
    return client


def url(name: str, session, query: str = "") -> str:
    return reverse(name, args=[session.pk]) + query


def file_url(session, path: str) -> str:
    from urllib.parse import quote

    return url("workspace_file", session, f"?path={quote(path)}")


async def body(response) -> bytes:
    if response.streaming:
        return b"".join([chunk async for chunk in response.streaming_content])
    return response.content


def root_of(session) -> Path:
    return Path(session.workspace_root)


@pytest.fixture
def outside(tmp_path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    return secret


# --- the tree ------------------------------------------------------------------------------------


async def test_the_tree_lists_folders_and_files_but_not_inside_node_modules(client, local_session):
    root = root_of(local_session)
    (root / "node_modules" / "react").mkdir(parents=True)
    (root / "node_modules" / "react" / "index.js").write_text("module.exports = {}")
    (root / "src" / "components").mkdir()
    (root / "src" / "components" / "Card.tsx").write_text("export {}")

    tree = await workspace.tree(local_session)
    listed = {node.path: node for node in tree.nodes}
    assert listed["src"].kind == "dir" and listed["src/components"].kind == "dir"
    assert listed["src/App.tsx"].kind == "file" and listed["src/App.tsx"].depth == 1
    assert listed["src/components/Card.tsx"].depth == 2
    assert listed["src/components/Card.tsx"].change == "added"
    assert listed["node_modules"].kind == "skipped"
    assert not any(path.startswith("node_modules/") for path in listed)
    # Folders first, then files, each by name; every file follows its folder.
    top = [node.path for node in tree.nodes if node.depth == 0]
    assert top[:2] == ["node_modules", "src"] and "package.json" in top[2:]
    order = [node.path for node in tree.nodes]
    assert order.index("src") < order.index("src/components") < order.index("src/App.tsx")

    response = await client.get(url("workspace_tree", local_session))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-path="src/App.tsx"' in page and 'data-path="package.json"' in page
    assert "node_modules/" in page and "(not listed)" in page
    assert "react/index.js" not in page
    assert "Pick a file on the left" in page


# --- the viewer ----------------------------------------------------------------------------------


async def test_the_viewer_shows_a_text_file(client, local_session):
    response = await client.get(file_url(local_session, "src/App.tsx"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" in page  # a full page: tree and viewer
    assert 'data-testid="file-content"' in page
    assert "<span>      <h1>Vite + React starter</h1></span>" in page.replace("&lt;", "<").replace(
        "&gt;", ">"
    )
    assert 'aria-current="true">App.tsx</a>' in page

    # From the tree (htmx): just the viewer.
    response = await client.get(file_url(local_session, "src/App.tsx"), headers=HTMX)
    assert response.status_code == 200
    fragment = response.content.decode()
    assert "<html" not in fragment and 'data-testid="file-content"' in fragment
    assert "Vite + React starter" in fragment


async def test_the_viewer_says_binary_for_non_utf8_files(client, local_session):
    (root_of(local_session) / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff")
    (root_of(local_session) / "latin1.txt").write_bytes("café".encode("latin-1"))
    for path in ("logo.png", "latin1.txt"):
        response = await client.get(file_url(local_session, path))
        assert response.status_code == 200
        page = response.content.decode()
        assert 'data-testid="file-binary"' in page and "Binary file" in page
        assert 'data-testid="file-content"' not in page


async def test_the_viewer_shows_only_the_start_of_a_big_file(client, local_session):
    line = "é" * 99 + "\n"  # two bytes each: the cut may fall inside a character
    (root_of(local_session) / "big.txt").write_text(line * 3_000)  # about 600 KB
    view = await workspace.read_file(local_session, "big.txt")
    assert view.truncated and not view.binary
    assert view.size == len(line.encode()) * 3_000
    assert len(view.text.encode()) <= workspace.VIEW_LIMIT
    response = await client.get(file_url(local_session, "big.txt"))
    page = response.content.decode()
    assert 'data-testid="file-truncated"' in page and "showing the first 200 KB" in page
    assert page.count(line.strip()) < 3_000


@pytest.mark.parametrize(
    "path",
    [
        "../outside/secret.txt",
        "src/../../outside/secret.txt",
        "{outside}",
        "leak.txt",
        "src/leak-dir/secret.txt",
    ],
)
async def test_paths_leading_out_of_the_workspace_are_refused_unread(
    client, local_session, outside, monkeypatch, path
):
    root = root_of(local_session)
    (root / "leak.txt").symlink_to(outside)
    (root / "src" / "leak-dir").symlink_to(outside.parent)
    # The workspace is tmp/<x>: make `..` from it reach the secret, so only the check stops it.
    (root.parent / "outside").mkdir(exist_ok=True)
    (root.parent / "outside" / "secret.txt").write_text(SECRET)
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda p, *a, **k: opened.append(p) or real_open(p, *a, **k))

    response = await client.get(file_url(local_session, path.format(outside=outside)))
    assert response.status_code == 400
    page = response.content.decode()
    assert SECRET not in page
    assert 'data-testid="file-error"' in page and "refused" in page
    assert opened == []
    with pytest.raises(workspace.PathRefused):
        await workspace.read_file(local_session, path.format(outside=outside))


async def test_a_link_inside_the_workspace_still_opens(client, local_session):
    (root_of(local_session) / "app-link.tsx").symlink_to(root_of(local_session) / "src" / "App.tsx")
    response = await client.get(file_url(local_session, "app-link.tsx"))
    assert response.status_code == 200
    assert "Vite + React starter" in response.content.decode()


async def test_missing_files_and_folders_are_not_shown(client, local_session):
    response = await client.get(file_url(local_session, "src/Nope.tsx"))
    assert response.status_code == 404
    assert "There is no file" in response.content.decode()
    response = await client.get(file_url(local_session, "src"), headers=HTMX)
    assert response.status_code == 400
    assert "is a folder" in response.content.decode()
    response = await client.get(file_url(local_session, ""))
    assert response.status_code == 200  # no file picked: the tree and an empty viewer


# --- changes against the starter -----------------------------------------------------------------


async def test_the_changes_after_a_demo_run_show_the_edit_line_by_line(client, local_session):
    run = await execute(local_session, prompt=PROMPT, model="demo")
    assert run.status == "succeeded", run.error

    result = await workspace.changes(local_session)
    assert [(d.path, d.change) for d in result.files] == [("src/App.tsx", "modified")]
    app = result.files[0]
    added = [line for cls, line in app.lines if cls == "d-add"]
    removed = [line for cls, line in app.lines if cls == "d-del"]
    assert f'+  "brand": "{BRAND}",' in added
    assert "-      <h1>Vite + React starter</h1>" in removed
    assert app.lines[0][0] == "d-hunk" and app.lines[0][1].startswith("@@ ")
    assert app.additions == len(added) and app.deletions == len(removed)

    response = await client.get(url("workspace_diff", local_session))
    assert response.status_code == 200
    page = response.content.decode()
    assert "1 file changed since the starter" in page
    assert f'<span class="d-add">+  &quot;brand&quot;: &quot;{BRAND}&quot;,</span>' in page
    assert '<span class="d-del">-      &lt;h1&gt;Vite + React starter&lt;/h1&gt;</span>' in page
    assert '<span class="d-hunk">@@ ' in page


async def test_added_and_deleted_files_are_all_plus_or_all_minus(local_session):
    root = root_of(local_session)
    (root / "src" / "new.ts").write_text("export const a = 1;\nexport const b = 2;\n")
    (root / "README.md").unlink()
    (root / "package-lock.json").write_text("{}")  # generated: left out, like dist/
    (root / "dist").mkdir()
    (root / "dist" / "index.js").write_text("built")

    result = await workspace.changes(local_session)
    by_path = {d.path: d for d in result.files}
    assert set(by_path) == {"src/new.ts", "README.md"}
    new = by_path["src/new.ts"]
    assert new.change == "added"
    assert [cls for cls, _ in new.lines] == ["d-hunk", "d-add", "d-add"]
    gone = by_path["README.md"]
    assert gone.change == "deleted" and gone.deletions > 0 and gone.additions == 0
    assert {cls for cls, _ in gone.lines} == {"d-hunk", "d-del"}


async def test_binary_starter_files_count_as_changed_only_when_they_are(alice, client):
    from asgiref.sync import sync_to_async

    png = b"\x89PNG\r\n\x1a\n\x00\x00binary"
    manifest = await sync_to_async(manifests.manifest_save)(
        owner=alice,
        name="with a logo",
        files=[
            manifests.FileSpec("index.html", b"<h1>hi</h1>\n"),
            manifests.FileSpec("logo.png", png),
            manifests.FileSpec("icon.png", png),
        ],
    )
    session = await start_local_session(alice, manifest)
    try:
        root = root_of(session)
        assert (root / "logo.png").read_bytes() == png
        (root / "icon.png").write_bytes(png + b"more")
        result = await workspace.changes(session)
        assert [(d.path, d.change) for d in result.files] == [("icon.png", "modified")]
        assert "Binary file modified" in result.files[0].note
        response = await client.get(url("workspace_diff", session))
        assert "Binary file modified" in response.content.decode()
    finally:
        await services.session_shutdown(session=session)


async def test_no_changes_yet_says_so(client, local_session):
    response = await client.get(url("workspace_diff", local_session))
    assert response.status_code == 200
    assert "No changes yet" in response.content.decode()


# --- zip -----------------------------------------------------------------------------------------


async def test_the_zip_holds_the_files_but_not_node_modules_or_outside_links(
    client, local_session, outside
):
    root = root_of(local_session)
    (root / "node_modules" / "react").mkdir(parents=True)
    (root / "node_modules" / "react" / "index.js").write_text("module.exports = {}")
    (root / "src" / "__pycache__").mkdir()
    (root / "src" / "__pycache__" / "x.pyc").write_bytes(b"\x00")
    (root / "leak.txt").symlink_to(outside)

    response = await client.get(url("workspace_zip", local_session))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="test-sandbox-workspace.zip"'
    data = await body(response)
    assert int(response["Content-Length"]) == len(data)
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = set(archive.namelist())
    assert {"package.json", "index.html", "src/App.tsx", "src/main.tsx"} <= names
    assert not any("node_modules" in n or "__pycache__" in n for n in names), names
    assert "leak.txt" not in names
    assert archive.read("src/App.tsx") == (root / "src" / "App.tsx").read_bytes()


# --- the console ---------------------------------------------------------------------------------


async def test_the_console_streams_output_as_it_comes_and_ends_with_the_exit_code(
    client, local_session
):
    response = await client.post(
        url("workspace_console", local_session), {"command": "echo one; sleep 0.2; echo two"}
    )
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    chunks = []
    async for chunk in response.streaming_content:
        chunks.append((time.monotonic(), chunk.decode()))
    text = "".join(chunk for _, chunk in chunks)
    assert text.startswith("one\ntwo\n"), text
    assert text.splitlines()[-1].startswith("[dashboard] exit code 0 · ")
    # "one" arrived on its own, before the command slept: streamed, not collected.
    first_at = next(at for at, chunk in chunks if "one" in chunk)
    two_at = next(at for at, chunk in chunks if "two" in chunk)
    assert "two" not in next(chunk for _, chunk in chunks if "one" in chunk)
    assert two_at - first_at >= 0.15


async def test_a_failing_command_reports_its_exit_code_and_error_output(client, local_session):
    response = await client.post(
        url("workspace_console", local_session), {"command": "ls no-such-file; exit 3"}
    )
    text = (await body(response)).decode()
    assert "No such file or directory" in text
    assert "[dashboard] exit code 3 · " in text


async def test_console_commands_run_in_the_workspace_without_the_dashboard_secrets(
    client, local_session, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    response = await client.post(
        url("workspace_console", local_session), {"command": "pwd; ls; env"}
    )
    text = (await body(response)).decode()
    assert text.splitlines()[0] == str(Path(local_session.workspace_root).resolve())
    assert "package.json" in text and "src" in text
    assert "sk-should-not-leak" not in text
    assert "exit code 0" in text


async def test_a_command_that_runs_too_long_is_stopped(local_session, monkeypatch):
    monkeypatch.setattr(commands, "CONSOLE_TIMEOUT", 1)
    started = time.monotonic()
    text = "".join([t async for t in workspace.console(local_session, "echo $$; sleep 30")])
    assert time.monotonic() - started < 5
    assert "timed out after 1 s: the command was stopped." in text
    assert not process_group_alive(int(text.split()[0]))


async def test_too_much_output_stops_the_command(local_session, monkeypatch):
    monkeypatch.setattr(commands, "CONSOLE_OUTPUT_LIMIT", 5_000)
    text = "".join([t async for t in workspace.console(local_session, "yes")])
    assert text.count("y\n") == 2_500
    assert text.endswith("[dashboard] more than 5,000 bytes of output: stopped.\n")


async def test_background_processes_end_with_the_command(local_session):
    started = time.monotonic()
    stream = workspace.console(local_session, "echo $$; (sleep 30 &); echo started")
    text = "".join([t async for t in stream])
    assert time.monotonic() - started < 5  # not held open by the sleep's copy of the pipe
    assert "started" in text and "exit code 0" in text
    assert not process_group_alive(int(text.split()[0]))


async def test_a_visitor_leaving_kills_the_command(local_session):
    stream = workspace.console(local_session, "echo $$; sleep 30")
    first = await anext(stream)
    pgid = int(first.split()[0])
    assert process_group_alive(pgid)
    await stream.aclose()  # what Django does when the client disconnects
    assert not process_group_alive(pgid)


async def test_an_empty_command_is_refused(client, local_session):
    response = await client.post(url("workspace_console", local_session), {"command": "  "})
    assert response.status_code == 400
    assert "Type a command" in response.content.decode()


async def test_the_console_needs_the_csrf_token(alice, local_session):
    strict = AsyncClient(enforce_csrf_checks=True)
    await strict.aforce_login(alice)
    response = await strict.post(url("workspace_console", local_session), {"command": "ls"})
    assert response.status_code == 403


async def test_the_console_page_has_the_form_and_its_script(client, local_session):
    response = await client.get(url("workspace_console", local_session))
    assert response.status_code == 200
    page = response.content.decode()
    assert "data-console" in page and "csrfmiddlewaretoken" in page
    assert "js/console.js" in page and "The output appears as it comes." in page


# --- refusals ------------------------------------------------------------------------------------


def every_read_url(session) -> list[str]:
    return [
        url("workspace_tree", session),
        file_url(session, "src/App.tsx"),
        url("workspace_diff", session),
        url("workspace_zip", session),
        url("workspace_console", session),
    ]


async def test_a_stopped_session_is_refused_with_the_reason(client, local_session):
    await services.session_shutdown(session=local_session)
    for target in every_read_url(local_session):
        response = await client.get(target)
        assert response.status_code == 409, target
        assert "shut down and its workspace deleted" in (await body(response)).decode(), target
    response = await client.post(url("workspace_console", local_session), {"command": "ls"})
    assert response.status_code == 409
    assert "shut down" in response.content.decode()
    with pytest.raises(workspace.WorkspaceUnavailable):
        await workspace.tree(local_session)


async def test_a_paused_session_is_refused_until_it_is_resumed(client, local_session):
    await SandboxSession.objects.filter(pk=local_session.pk).aupdate(
        status=SandboxSession.Status.PAUSED
    )
    response = await client.get(url("workspace_tree", local_session))
    assert response.status_code == 409
    assert "paused: resume it" in response.content.decode()
    response = await client.post(url("workspace_console", local_session), {"command": "ls"})
    assert response.status_code == 409


async def test_a_session_still_being_created_is_refused(alice, starter, client):
    session = await SandboxSession.objects.acreate(owner=alice, manifest=starter, name="new")
    response = await client.get(url("workspace_tree", session))
    assert response.status_code == 409
    assert "still being created" in response.content.decode()
    response = await client.post(url("workspace_console", session), {"command": "ls"})
    assert response.status_code == 409


async def test_bob_gets_404_on_every_url_of_alices_session(bob, local_session, outside):
    client = AsyncClient()
    await client.aforce_login(bob)
    for target in every_read_url(local_session):
        assert (await client.get(target)).status_code == 404, target
    marker = root_of(local_session) / "bob-was-here"
    response = await client.post(
        url("workspace_console", local_session), {"command": f"touch {marker}"}
    )
    assert response.status_code == 404
    assert not marker.exists()


async def test_anonymous_visitors_are_sent_to_log_in(local_session):
    client = AsyncClient()
    for target in every_read_url(local_session):
        response = await client.get(target)
        assert response.status_code == 302 and "/login/" in response.url, target


async def test_the_session_page_links_to_the_workspace_browser(client, local_session):
    page = (await client.get(local_session.get_absolute_url())).content.decode()
    for name in ("workspace_tree", "workspace_diff", "workspace_console", "workspace_zip"):
        assert f'href="{url(name, local_session)}"' in page, name


# --- a remote sandbox (E2B), through a stand-in for the attached SDK session ---------------------


class RemoteStandIn:
    """What `sandbox_attached` yields, for the calls the browser makes: `exec` runs the script
    with sh in a local folder (as the SDK does with `sh -lc` in the sandbox), `read_bounded`
    reads a file. Output only comes back when the command ends, as with E2B."""

    def __init__(self) -> None:
        self.attached = 0
        self.commands: list[str] = []

    async def exec(self, command: str, *, shell: bool = True, timeout: float | None = None):  # noqa: ASYNC109 - the SDK's signature
        self.commands.append(command)
        process = await asyncio.create_subprocess_exec(
            "sh", "-c", command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
        return ExecResult(stdout=stdout, stderr=stderr, exit_code=process.returncode)

    async def read_bounded(self, path: Path, *, max_bytes: int) -> bytes:
        with open(path, "rb") as f:
            return f.read(max_bytes)


@pytest.fixture
async def remote_session(alice, starter, tmp_path, monkeypatch):
    root = tmp_path / "remote-workspace"
    for entry in await asyncio.to_thread(lambda: list(starter.entries.all())):
        (root / entry.path).parent.mkdir(parents=True, exist_ok=True)
        (root / entry.path).write_bytes(entry.data)
    session = await SandboxSession.objects.acreate(
        owner=alice,
        manifest=starter,
        name="remote",
        backend=SandboxSession.Backend.E2B,
        status=SandboxSession.Status.RUNNING,
        sdk_state={"type": "e2b", "manifest": {"root": str(root)}},
    )
    stand_in = RemoteStandIn()

    @contextlib.asynccontextmanager
    async def attached(attached_session):
        assert attached_session.pk == session.pk
        stand_in.attached += 1
        yield stand_in

    monkeypatch.setattr(remote, "sandbox_attached", attached)
    session.stand_in = stand_in
    return session


async def test_a_remote_workspace_is_browsed_through_the_sdk(client, remote_session, outside):
    root = root_of(remote_session)
    (root / "node_modules" / "x").mkdir(parents=True)
    (root / "node_modules" / "x" / "a.js").write_text("x")
    (root / "src" / "App.tsx").write_text('const title = "Remote!";\n')
    (root / "src" / "added.ts").write_text("export {}\n")
    (root / "leak.txt").symlink_to(outside)

    page = (await client.get(url("workspace_tree", remote_session))).content.decode()
    assert 'data-path="src/App.tsx"' in page and "(not listed)" in page
    assert "node_modules/x" not in page
    assert "each page resumes it" in page

    response = await client.get(file_url(remote_session, "src/App.tsx"), headers=HTMX)
    assert response.status_code == 200 and "Remote!" in response.content.decode()
    attached = remote_session.stand_in.attached
    response = await client.get(file_url(remote_session, "/etc/passwd"), headers=HTMX)
    assert response.status_code == 400
    assert remote_session.stand_in.attached == attached  # refused before resuming anything
    for path, status in (("leak.txt", 400), ("../x", 400), ("nope.txt", 404), ("src", 400)):
        response = await client.get(file_url(remote_session, path))
        assert response.status_code == status, path
        assert SECRET not in response.content.decode()

    result = await workspace.changes(remote_session)
    assert {(d.path, d.change) for d in result.files} == {
        ("src/App.tsx", "modified"),
        ("src/added.ts", "added"),
    }
    app = next(d for d in result.files if d.path == "src/App.tsx")
    assert ("d-add", '+const title = "Remote!";') in app.lines

    data = await body(await client.get(url("workspace_zip", remote_session)))
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert {"src/App.tsx", "src/added.ts", "package.json"} <= names
    assert not any("node_modules" in n for n in names) and "leak.txt" not in names

    response = await client.post(
        url("workspace_console", remote_session), {"command": "pwd; echo oops >&2; exit 4"}
    )
    text = (await body(response)).decode()
    assert "the output appears when the command has finished" in text
    assert str(root) in text and "oops" in text
    assert "[dashboard] exit code 4 · " in text


async def test_a_remote_workspace_is_not_opened_under_a_running_agent(
    alice, client, remote_session
):
    from runs.models import Run

    await Run.objects.acreate(
        owner=alice, session=remote_session, config={}, prompt="busy", status=Run.Status.RUNNING
    )
    response = await client.get(url("workspace_tree", remote_session))
    assert response.status_code == 409
    assert "An agent run is using this sandbox" in response.content.decode()
    response = await client.post(url("workspace_console", remote_session), {"command": "ls"})
    assert response.status_code == 409
    assert remote_session.stand_in.attached == 0
