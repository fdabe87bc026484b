"""An image the agent looked at (the SDK's view_image) shows as an image in the run's log, in
a real browser; another user cannot open it."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .conftest import server_shell, shot

# Runs in the served dashboard's own process (manage.py shell): a real local sandbox, a
# scripted model that calls view_image on a PNG in the workspace, the real executor.
RUN_WITH_VIEW_IMAGE = """
import asyncio
from pathlib import Path
from django.contrib.auth import get_user_model
from agents.testing import ModelStep, function_call
from sandboxes.models import Manifest, SandboxSession
from sandboxes.services import session_start
from tests.helpers import answer_step, execute, use_model
from tests.images import make_png

async def main():
    alice = await get_user_model().objects.aget(username="alice")
    manifest = await Manifest.objects.aget(slug="vite-react", is_builtin=True)
    session = await SandboxSession.objects.acreate(
        owner=alice, manifest=manifest, name="Images", backend="local"
    )
    await session_start(session_id=session.pk)
    await session.arefresh_from_db()
    logo = Path(session.workspace_root, "logo.png")
    logo.write_bytes(make_png(320, 160))
    logo.chmod(0o644)
    use_model("scripted", [
        ModelStep(output=[function_call("view_image", {"path": "logo.png"}, call_id="v1")]),
        answer_step("The logo is red on the left and blue on the right."),
    ])
    run = await execute(session, prompt="Look at logo.png", model="scripted")
    print("RUN", run.pk, run.status, run.error)

asyncio.run(main())
"""


def test_view_image_shows_the_image_in_the_run_log(server, alice_page, bob_page, artifacts):
    out = server_shell(server, RUN_WITH_VIEW_IMAGE)
    run_id, status = re.search(r"RUN (\d+) (\w+)", out).groups()
    assert status == "succeeded", out

    page = alice_page
    page.goto(f"/runs/{run_id}/")
    image = page.get_by_test_id("tool-image")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 320
    assert image.evaluate("img => img.naturalHeight") == 160
    expect(page.locator(".ev-view_image")).to_contain_text("view_image")
    shot(page, "tool-image-run-log")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "tool-image-run-log-phone")

    src = image.get_attribute("src")
    assert bob_page.request.get(src).status == 404
