"""Images from tools in the run stream: the SDK's view_image (and any tool's image output) is
stored as a file, the event carries its id (never its base64), and the log shows an <img>
served to the run's owner only."""

from __future__ import annotations

from pathlib import Path

import pytest
from agents import ToolOutputImage, ToolOutputText
from agents.testing import ModelStep, function_call
from asgiref.sync import sync_to_async
from django.template.loader import render_to_string
from django.test import AsyncClient

from lib.images import data_url
from runs.event_log import render_event
from runs.images import images_in_output
from runs.models import RunEvent, RunImage
from tests.conftest import alogin
from tests.helpers import answer_step, events_of, execute, use_model
from tests.images import make_png

pytestmark = pytest.mark.django_db(transaction=True)


def tiny_png() -> bytes:
    return make_png(3, 2)


async def test_view_image_output_is_stored_and_shown_as_an_image(local_session, alice, bob):
    png = tiny_png()
    Path(local_session.workspace_root, "logo.png").write_bytes(png)
    use_model(
        "scripted",
        [
            ModelStep(output=[function_call("view_image", {"path": "logo.png"}, call_id="v1")]),
            answer_step("The logo is red and blue."),
        ],
    )

    run = await execute(local_session, model="scripted")

    assert run.status == "succeeded", run.error
    [output] = [e for e in await events_of(run) if e.kind == "tool_output"]
    [image] = output.payload["images"]
    assert image["type"] == "image/png" and image["bytes"] == len(png)
    assert "base64" not in str(output.payload)
    stored = await RunImage.objects.aget(pk=image["id"])
    assert stored.run_id == run.pk
    html = await sync_to_async(render_event)(output)
    assert f'<img class="tool-image" src="/runs/images/{stored.pk}"' in html
    assert "(no output)" not in html

    owner = await alogin(AsyncClient(), alice)
    response = await owner.get(f"/runs/images/{stored.pk}")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == png
    assert "sandbox" in response["Content-Security-Policy"]
    outsider = await alogin(AsyncClient(), bob)
    assert (await outsider.get(f"/runs/images/{stored.pk}")).status_code == 404


def test_image_outputs_of_every_shape_are_found():
    png = tiny_png()
    url = data_url(png, "image/png")
    assert images_in_output(ToolOutputImage(image_url=url)) == ("", [("image/png", png)])
    # An MCP tool's content: text and image parts.
    mcp = [{"type": "text", "text": "Here it is"}, {"type": "image", "image_url": url}]
    assert images_in_output(mcp) == ("Here it is", [("image/png", png)])
    mixed = [ToolOutputText(text="shot"), ToolOutputImage(image_url=url)]
    assert images_in_output(mixed) == ("shot", [("image/png", png)])
    assert images_in_output(url) == ("", [("image/png", png)])
    # A remote image is named, never fetched; plain text is not an image.
    remote = images_in_output({"type": "image", "image_url": "https://example.com/a.png"})
    assert remote == ("[image: https://example.com/a.png]", [])
    assert images_in_output("exit 0") is None
    assert images_in_output({"type": "text", "text": "hi"}) is None


def test_a_too_large_image_is_left_out_with_a_note(alice_run):
    from runs import images

    big = tiny_png() + b"\x00" * (images.IMAGE_LIMIT + 1)
    entry = images._store(alice_run.pk, "image/png", big)
    assert "too large" in entry["omitted"]
    assert not RunImage.objects.exists()
    payload = {"call": "c", "output": "", "images": [entry]}
    event = RunEvent(run=alice_run, seq=1, kind="tool_output", payload=payload)
    html = render_to_string("runs/_event.html", {"event": event, "run_id": alice_run.pk})
    assert "Image not shown" in html and "<img" not in html
