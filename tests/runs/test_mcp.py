"""MCP servers by URL: a real streamable-HTTP MCP server on loopback, attached to a run.

The server is the `mcp` package's own MCPServer (tests/fakes/mcp.py), so the SDK's client
really connects, lists tools and calls one; the server records the headers it received. The
headers' secret must reach the server and nowhere else: not the database, pages or the admin.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time

import pytest
from agents.testing import ModelStep, function_call
from agents.usage import Usage
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from lib.secrets import unseal
from lib.urls import public_url
from runs.event_log import render_event
from runs.mcp import http_server_spec
from runs.models import AgentConfig, Run, RunEvent
from sandboxes.models import SandboxSession

from ..conftest import PASSWORD, alogin, login
from ..fakes.mcp import LoopbackMCP, free_port, search_result
from ..helpers import answer_step, config, events_of, use_model

SECRET = "sekrit-token"
QUERY = "sandbox agents in parallel"


@pytest.fixture
def mcp_server():
    server = LoopbackMCP().start()
    yield server
    server.stop()


def search_step(query: str = QUERY, call_id: str = "mcp-search-1") -> ModelStep:
    return ModelStep(
        output=[function_call("search", {"query": query}, call_id=call_id)],
        usage=Usage(requests=1, input_tokens=12, output_tokens=4, total_tokens=16),
    )


async def run_with(session, agent_config: dict, prompt: str = "Find out.") -> Run:
    run = await Run.objects.acreate(
        owner_id=session.owner_id, session=session, config=agent_config, prompt=prompt
    )
    from runs.executor import run_execute

    await asyncio.wait_for(run_execute(run_id=run.pk), timeout=60)
    await run.arefresh_from_db()
    return run


def dump_database() -> str:
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    return out.getvalue()


# --- a run that calls an MCP tool ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_run_calls_a_tool_of_a_real_mcp_server_with_sealed_headers(
    async_client, alice, local_session, mcp_server
):
    # Attach the server to an agent config through the agent page, as a user would.
    agent = await AgentConfig.objects.acreate(
        owner=alice, name="Researcher", model="scripted", capabilities=["shell"]
    )
    client = await alogin(async_client, alice)
    response = await client.post(
        reverse("agent_mcp_add", args=[agent.pk]),
        {"name": "search", "url": mcp_server.url, "headers": f"Authorization: Bearer {SECRET}"},
    )
    assert response.status_code == 302
    await agent.arefresh_from_db()

    model = use_model("scripted", [search_step(), answer_step("Found three sources.")])
    run = await run_with(local_session, agent.frozen())

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.final_output == "Found three sources."
    # The model was offered the server's tool, and the server ran it.
    assert "search" in {tool.name for tool in model.first_call.tools}
    assert mcp_server.queries == [QUERY]
    # The server received the header, in clear, on every request it got.
    assert mcp_server.requests
    assert mcp_server.header_values("authorization") == [f"Bearer {SECRET}"] * len(
        mcp_server.requests
    )

    events = await events_of(run)
    [listed] = [e.payload for e in events if e.kind == "mcp_tools"]
    assert listed == {"server": "search", "url": mcp_server.url, "tools": ["search"]}
    [call] = [e.payload for e in events if e.kind == "tool_call"]
    assert call["tool"] == "search"
    assert call["server"] == "search"
    assert call["call"] == "mcp-search-1"
    assert json.loads(call["arguments"]) == {"query": QUERY}
    [output] = [e.payload for e in events if e.kind == "tool_output"]
    assert output["call"] == "mcp-search-1"
    assert search_result(QUERY) in output["output"]
    kinds = [e.kind for e in events]
    assert kinds.index("mcp_tools") < kinds.index("tool_call") < kinds.index("tool_output")
    html = "".join([await sync_to_async(render_event)(e) for e in events])
    assert "MCP · search · search" in html
    assert search_result(QUERY).replace("'", "&#x27;") in html

    # The secret is sealed at rest...
    await agent.arefresh_from_db()
    [spec] = agent.mcp_servers
    assert spec["headers"].startswith("sealed:")
    assert unseal(spec["headers"]) == {"Authorization": f"Bearer {SECRET}"}
    assert run.config["mcp_servers"] == agent.mcp_servers
    # ...and nowhere in clear: not the config, the run, its events, or their HTML...
    assert SECRET not in json.dumps(agent.mcp_servers)
    assert SECRET not in json.dumps(run.config)
    assert SECRET not in json.dumps([e.payload for e in events])
    assert SECRET not in html
    assert SECRET not in run.error + run.final_output + run.prompt
    # ...nor anywhere else in the database...
    assert SECRET not in await sync_to_async(dump_database)()
    # ...nor on the pages that show them.
    page = (await client.get(reverse("agent_edit", args=[agent.pk]))).content.decode()
    assert "headers set (hidden)" in page
    assert SECRET not in page
    page = (await client.get(run.get_absolute_url())).content.decode()
    assert SECRET not in page
    root = await sync_to_async(get_user_model().objects.create_superuser)("root", "", PASSWORD)
    admin = await alogin(async_client, root)
    for url in (
        reverse("admin:runs_agentconfig_change", args=[agent.pk]),
        reverse("admin:runs_run_change", args=[run.pk]),
        reverse("admin:runs_run_changelist"),
    ):
        response = await admin.get(url)
        assert response.status_code == 200, url
        assert SECRET not in response.content.decode(), url
    # The admin does show the run's events, so the check above looked at them.
    response = await admin.get(reverse("admin:runs_run_change", args=[run.pk]))
    assert "mcp_tools" in response.content.decode()


@pytest.mark.django_db(transaction=True)
async def test_the_run_shows_the_server_s_url_without_credentials(local_session, mcp_server):
    url = f"http://user:url-password@127.0.0.1:{mcp_server.port}/mcp?apiKey=url-secret"
    assert public_url(url) == mcp_server.url
    use_model("scripted", [search_step(), answer_step("Done.")])

    run = await run_with(
        local_session,
        config(model="scripted", mcp_servers=[http_server_spec(name="web", url=url, headers={})]),
    )

    assert run.status == Run.Status.SUCCEEDED, run.error
    events = await events_of(run)
    [listed] = [e.payload for e in events if e.kind == "mcp_tools"]
    assert listed["url"] == mcp_server.url
    assert listed["server"] == "web"
    [call] = [e.payload for e in events if e.kind == "tool_call"]
    assert call["server"] == "web"
    rendered = json.dumps([e.payload for e in events])
    assert "url-secret" not in rendered and "url-password" not in rendered


@pytest.mark.django_db
def test_credentials_in_an_mcp_url_are_not_stored_or_shown_in_clear(client, alice):
    agent = AgentConfig.objects.create(owner=alice, name="Researcher", model="demo")
    login(client, alice)
    url = "https://user:url-secret-123@mcp.example.com/mcp?exaApiKey=url-secret-123"

    response = client.post(
        reverse("agent_mcp_add", args=[agent.pk]), {"name": "exa", "url": url, "headers": ""}
    )

    assert response.status_code == 302
    agent.refresh_from_db()
    [spec] = agent.mcp_servers
    assert unseal(spec["url"]) == url  # what the run connects to
    assert spec["display_url"] == "https://mcp.example.com/mcp"
    assert "url-secret-123" not in json.dumps(agent.mcp_servers)
    page = client.get(reverse("agent_edit", args=[agent.pk])).content.decode()
    assert "https://mcp.example.com/mcp" in page
    assert "url-secret-123" not in page


# --- the agent page ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_agent_page_attaches_a_server_with_sealed_headers(client, alice):
    agent = AgentConfig.objects.create(owner=alice, name="Researcher", model="demo")
    login(client, alice)
    url = reverse("agent_mcp_add", args=[agent.pk])

    response = client.post(
        url,
        {
            "name": "search",
            "url": "https://search.example.com/mcp",
            "headers": f"Authorization: Bearer {SECRET}\n\nX-Team:  blue \n",
        },
    )

    assert response.status_code == 302
    assert response.url == reverse("agent_edit", args=[agent.pk])
    agent.refresh_from_db()
    [spec] = agent.mcp_servers
    assert spec["name"] == "search"
    assert spec["kind"] == "http"
    assert unseal(spec["url"]) == "https://search.example.com/mcp"
    assert spec["display_url"] == "https://search.example.com/mcp"
    assert spec["headers"].startswith("sealed:")
    assert unseal(spec["headers"]) == {"Authorization": f"Bearer {SECRET}", "X-Team": "blue"}
    page = client.get(response.url).content.decode()
    assert "headers set (hidden)" in page
    assert "https://search.example.com/mcp" in page
    assert SECRET not in page and "blue" not in page

    # Attaching under the same name replaces it; without headers, nothing is said to be hidden.
    client.post(url, {"name": "search", "url": "https://other.example.com/mcp", "headers": ""})
    agent.refresh_from_db()
    [spec] = agent.mcp_servers
    assert unseal(spec["url"]) == "https://other.example.com/mcp"
    assert spec["headers"] == ""
    page = client.get(response.url).content.decode()
    assert "headers set (hidden)" not in page

    # And it can be removed.
    client.post(reverse("agent_mcp_remove", args=[agent.pk, "search"]))
    agent.refresh_from_db()
    assert agent.mcp_servers == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (f"Authorization Bearer {SECRET}", "Line 1 is not &#x27;Name: value&#x27;."),
        (f"X-Team: blue\nAuthorization Bearer {SECRET}", "Line 2 is not &#x27;Name: value&#x27;."),
        (f"Auth orization: Bearer {SECRET}", "Line 1 is not &#x27;Name: value&#x27;."),
        (f": Bearer {SECRET}", "Line 1 is not &#x27;Name: value&#x27;."),
    ],
)
def test_bad_header_lines_are_a_form_error_and_nothing_is_stored(client, alice, headers, message):
    agent = AgentConfig.objects.create(owner=alice, name="Researcher", model="demo")
    login(client, alice)

    response = client.post(
        reverse("agent_mcp_add", args=[agent.pk]),
        {"name": "search", "url": "https://search.example.com/mcp", "headers": headers},
    )

    assert response.status_code == 400
    assert message in response.content.decode()
    agent.refresh_from_db()
    assert agent.mcp_servers == []


@pytest.mark.django_db
def test_another_user_cannot_attach_a_server_to_my_agent(client, alice, bob):
    agent = AgentConfig.objects.create(owner=alice, name="Researcher", model="demo")
    login(client, bob)

    response = client.post(
        reverse("agent_mcp_add", args=[agent.pk]),
        {"name": "evil", "url": "https://evil.example.com/mcp", "headers": ""},
    )

    assert response.status_code == 404
    assert client.get(reverse("agent_edit", args=[agent.pk])).status_code == 404
    agent.refresh_from_db()
    assert agent.mcp_servers == []


# --- servers that cannot be used -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_an_unreachable_mcp_server_fails_the_run_clearly(local_session, caplog):
    url = f"http://127.0.0.1:{free_port()}/mcp"  # nothing listens there
    model = use_model("scripted", [answer_step("never reached")])
    started = time.monotonic()

    run = await run_with(
        local_session,
        config(
            model="scripted",
            mcp_servers=[
                http_server_spec(name="search", url=url, headers={"Authorization": SECRET})
            ],
        ),
    )

    assert time.monotonic() - started < 15
    assert run.status == Run.Status.FAILED
    assert "MCP server 'search'" in run.error
    assert "Could not reach the server" in run.error
    assert SECRET not in run.error
    # The server log says it in one line, without a traceback.
    (record,) = [r for r in caplog.records if r.name == "runs.executor"]
    assert record.getMessage() == f"Run {run.pk} failed: {run.error}" and not record.exc_info
    assert model.calls == ()
    last = (await events_of(run))[-1]
    assert last.kind == "state" and last.payload["status"] == "failed"
    # The sandbox is fine: only the MCP server was missing.
    await local_session.arefresh_from_db()
    assert local_session.status == SandboxSession.Status.RUNNING


@pytest.mark.django_db(transaction=True)
async def test_a_silent_mcp_server_fails_the_run_instead_of_hanging(local_session):
    # A server that accepts connections and never answers.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/mcp"
        model = use_model("scripted", [answer_step("never reached")])

        run = await run_with(
            local_session,
            config(
                model="scripted", mcp_servers=[http_server_spec(name="search", url=url, headers={})]
            ),
        )

    assert run.status == Run.Status.FAILED
    assert run.error  # what it says: tests/lib/test_errors.py
    assert (run.finished_at - run.started_at).total_seconds() < 30
    assert model.calls == ()
    assert not await RunEvent.objects.filter(run=run, kind="mcp_tools").aexists()
