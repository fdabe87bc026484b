"""A screenshot reaches the model as an image input: a function tool returns
`screenshot_tool_output(shot)` and the model's next request carries it as `input_image`."""

from __future__ import annotations

import pytest
from agents import Agent, RunConfig, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call
from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile

from lib.images import parse_data_url
from sandboxes.models import Screenshot
from sandboxes.screenshots import screenshot_tool_output

pytestmark = pytest.mark.django_db(transaction=True)

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00\x00\x00\x02\x08\x02\x00\x00\x00"


def _stored(session) -> Screenshot:
    shot = Screenshot(session=session, width=2, height=2)
    shot.image.save("tiny.png", ContentFile(PNG), save=True)
    return shot


def _input_images(call) -> list[dict]:
    found = []
    for item in call.input if isinstance(call.input, list) else []:
        output = item.get("output") if isinstance(item, dict) else None
        for part in output if isinstance(output, list) else []:
            if isinstance(part, dict) and part.get("type") == "input_image":
                found.append(part)
    return found


async def test_a_tool_returning_a_screenshot_gives_the_model_an_input_image(alice_session):
    shot = await sync_to_async(_stored)(alice_session)

    @function_tool
    async def look_at_preview() -> object:
        """Photograph the preview."""
        return await sync_to_async(screenshot_tool_output)(shot)

    model = ScriptedModel(
        [
            [function_call("look_at_preview", {}, call_id="c1")],
            [assistant_message("It has a hero.")],
        ]
    )
    agent = Agent(name="Judge", model=model, tools=[look_at_preview])
    result = await Runner.run(
        agent, "How does it look?", run_config=RunConfig(tracing_disabled=True)
    )

    assert result.final_output == "It has a hero."
    [image] = _input_images(model.calls[1])
    assert parse_data_url(image["image_url"]) == ("image/png", PNG)
    assert not _input_images(model.calls[0])
