"""A run's export never holds a secret: not the MCP server's URL or headers (sealed or in
clear), not the dashboard's keys, even where a command printed them into the log."""

import json

import pytest
from django.test import AsyncClient

from runs.mcp import http_server_spec
from runs.models import Run, RunEvent

from ..conftest import alogin

pytestmark = pytest.mark.django_db(transaction=True)

API_KEY = "sk-PLANTED-openai-key-93ab17"
HEADER_SECRET = "PLANTED-header-token-5e61"
URL_SECRET = "PLANTED-url-key-c0ffee"


async def test_the_export_holds_no_secret(alice, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    spec = http_server_spec(
        name="search",
        url=f"https://mcp.example.com/mcp?apiKey={URL_SECRET}",
        headers={"Authorization": f"Bearer {HEADER_SECRET}"},
    )
    run = await Run.objects.acreate(
        owner=alice,
        config={"name": "A", "model": "demo", "mcp_servers": [spec]},
        prompt="Use the search server",
        status=Run.Status.SUCCEEDED,
        final_output=f"The key is {API_KEY}",
        paused_state="sealed-state-that-never-leaves",
    )
    printed = f"env: OPENAI_API_KEY={API_KEY}\nAuthorization: Bearer {HEADER_SECRET}\n"
    await RunEvent.objects.acreate(
        run=run, seq=1, kind="tool_output", payload={"call": "c1", "output": printed}
    )
    await RunEvent.objects.acreate(
        run=run,
        seq=2,
        kind="mcp_tools",
        payload={"server": "search", "url": f"https://mcp.example.com/mcp?apiKey={URL_SECRET}"},
    )
    client = await alogin(AsyncClient(), alice)
    response = await client.get(f"/runs/{run.pk}/export.json")
    text = b"".join([chunk async for chunk in response.streaming_content]).decode()

    for secret in (API_KEY, HEADER_SECRET, URL_SECRET, spec["url"], spec["headers"]):
        assert secret not in text
    assert "sealed-state-that-never-leaves" not in text
    document = json.loads(text)
    assert document["run"]["config"]["mcp_servers"] == [
        {"name": "search", "kind": "http", "display_url": "https://mcp.example.com/mcp"}
    ]
    assert "[redacted]" in document["run"]["events"][0]["payload"]["output"]
