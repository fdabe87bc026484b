"""The workspace browser through a real browser against the real daphne server.

After the offline demo agent rewrote src/App.tsx: the file tree and viewer show it, "Changes vs
starter" shows the edit as a diff, the console runs commands with their output streamed live
(and a Stop that really stops the command), and the zip downloads the workspace.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from lib.processes import process_group_alive

from .conftest import click_and_confirm, open_sandbox, shot, start_run, wait_until_finished

pytestmark = pytest.mark.e2e

PROMPT = "A dark dashboard for a green tea shop. Show today's teas and a loyalty counter."
BRAND = "Green Tea Shop"  # the demo's landing page is named after the brief's subject


def run_command(page: Page, command: str) -> None:
    console = page.get_by_test_id("console")
    console.get_by_label("Run a command in the workspace").fill(command)
    console.get_by_role("button", name="Run").click()


def test_browse_changes_console_and_zip_after_a_demo_run(alice_page, bob_page):
    page = alice_page
    session_id = open_sandbox(page)
    start_run(page, PROMPT)
    wait_until_finished(page)
    expect(page.get_by_test_id("run-status")).to_have_text("Succeeded")

    # From the session page into the browser.
    page.goto(f"/sessions/{session_id}/")
    links = page.get_by_test_id("workspace-links")
    expect(links).to_be_visible()
    shot(page, "workspace-session-links")
    links.get_by_role("link", name="Browse files").click()
    page.wait_for_url(re.compile(rf"/sessions/{session_id}/workspace/$"))
    tree = page.get_by_test_id("file-tree")
    expect(tree.locator("a[data-path='package.json']")).to_be_visible()
    expect(page.get_by_text("Pick a file on the left")).to_be_visible()
    shot(page, "workspace-files")

    # The tree marks App.tsx as changed; opening it shows the agent's version.
    app = tree.locator("li", has=page.locator("a[data-path='src/App.tsx']"))
    expect(app.locator(".ws-badge")).to_have_text("M")
    app.get_by_role("link", name="App.tsx").click()
    expect(page.get_by_test_id("file-path")).to_have_text("src/App.tsx")
    expect(page.get_by_test_id("file-content")).to_contain_text(f'"brand": "{BRAND}"')
    expect(page).to_have_url(re.compile(r"/workspace/file/\?path=src/App.tsx$"))  # htmx pushed it
    shot(page, "workspace-file-open")

    # Changes vs starter: the rewrite, line by line, the brand on an added line.
    page.get_by_role("link", name="Changes vs starter").click()
    page.wait_for_url(re.compile(rf"/sessions/{session_id}/workspace/changes/$"))
    changes = page.get_by_test_id("changes")
    expect(changes.get_by_role("heading", level=2)).to_contain_text("1 file changed")
    diff = changes.locator(".ws-diff[data-path='src/App.tsx'] pre.diff")
    expect(diff.locator(".d-file")).to_contain_text("src/App.tsx · modified")
    expect(diff.locator(".d-add", has_text='+  "brand": ')).to_contain_text(BRAND)
    expect(diff.locator(".d-del", has_text="<h1>Vite + React starter</h1>")).to_have_count(1)
    expect(diff.locator(".d-hunk").first).to_contain_text("@@ -")
    shot(page, "workspace-changes")

    # The console: `ls` lists the workspace.
    page.get_by_role("link", name="Console").click()
    page.wait_for_url(re.compile(rf"/sessions/{session_id}/workspace/console/$"))
    output = page.get_by_test_id("console-output")
    status = page.get_by_test_id("console-status")
    run_command(page, "ls")
    expect(status).to_have_text(re.compile(r"^exit 0 · "))
    expect(output).to_contain_text("package.json")
    expect(output).to_contain_text("src")
    expect(output).not_to_contain_text("[dashboard]")
    shot(page, "workspace-console")

    # Output is streamed: "one" shows while the command still sleeps before "two".
    run_command(page, "echo one; sleep 1.5; echo two")
    page.wait_for_function(
        r"""() => {
            const out = document.querySelector("[data-testid=console-output]").textContent;
            const lines = out.split("\n").slice(1);  // after the "$ command" line
            const state = document.querySelector("[data-testid=console-status]").textContent;
            return lines.includes("one") && !lines.includes("two") && state === "running…";
        }""",
        polling="raf",
        timeout=10_000,
    )
    shot(page, "workspace-console-streaming")
    expect(status).to_have_text(re.compile(r"^exit 0 · "))
    expect(output).to_contain_text("one\ntwo")

    # A failing command shows its exit code.
    run_command(page, "ls no-such-file")
    expect(status).to_have_text(re.compile(r"^exit 2 · "))
    expect(status).to_have_class(re.compile(r"\bbad\b"))
    expect(output).to_contain_text("No such file or directory")

    # Stop ends the request, and the server then kills the command.
    run_command(page, "echo $$; sleep 60")
    expect(output).to_contain_text(re.compile(r"\$ echo \$\$; sleep 60\n\d+"))
    pgid = int(re.search(r"\n(\d+)", output.inner_text()).group(1))
    assert process_group_alive(pgid)
    page.get_by_role("button", name="Stop").click()
    expect(status).to_have_text("stopped")
    deadline = time.monotonic() + 10
    while process_group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_group_alive(pgid), "the command outlived the request"
    shot(page, "workspace-console-stopped")

    # A link leading out of the workspace is listed, but the viewer refuses to open it.
    run_command(page, "ln -s /etc/passwd outside-link && echo linked")
    expect(status).to_have_text(re.compile(r"^exit 0 · "))
    page.get_by_role("link", name="Files", exact=True).click()
    page.get_by_test_id("file-tree").get_by_role("link", name="outside-link").click()
    expect(page.get_by_test_id("file-error")).to_contain_text("leads outside the workspace")
    expect(page.locator("#ws-viewer")).not_to_contain_text("root:")
    expect(page.get_by_test_id("file-tree")).to_be_visible()  # refused in place, page intact
    shot(page, "workspace-refused")

    # Download zip: the workspace's files, with the agent's App.tsx.
    with page.expect_download() as download_info:
        page.get_by_test_id("zip-link").click()
    download = download_info.value
    assert download.suggested_filename.endswith("-workspace.zip")
    archive = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes()))
    assert {"package.json", "index.html", "src/App.tsx", "src/main.tsx"} <= set(archive.namelist())
    assert BRAND in archive.read("src/App.tsx").decode()
    assert "outside-link" not in archive.namelist()

    # Nobody else sees any of it.
    for path in ("", "file/?path=src/App.tsx", "changes/", "console/", "download.zip"):
        response = bob_page.request.get(f"/sessions/{session_id}/workspace/{path}")
        assert response.status == 404, path

    # Once the sandbox is shut down, the browser says why it cannot open it.
    page.goto(f"/sessions/{session_id}/")
    click_and_confirm(page, page.get_by_role("button", name="Shut down"))
    expect(page.get_by_test_id("session-status")).to_have_text("Stopped")
    expect(page.get_by_test_id("workspace-links")).to_have_count(0)
    response = page.goto(f"/sessions/{session_id}/workspace/")
    assert response.status == 409
    expect(page.get_by_test_id("workspace-error")).to_contain_text("shut down")
    shot(page, "workspace-stopped")
