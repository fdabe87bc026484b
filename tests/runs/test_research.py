"""The built-in offline MCP server (search, fetch over the bundled corpus) and the deep research
preset on it: with the offline demo model and no key, a run searches, fetches, keeps notes and
answers citing exactly the documents it fetched."""

from __future__ import annotations

import asyncio
import io
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

import runs.tasks
from runs import presets
from runs.lanes import run_after_session_start
from runs.models import AgentConfig, Run, RunEvent
from runs.research.corpus import corpus
from runs.research.server import builtin_server, fetch_text, search_text
from sandboxes.models import SandboxSession
from sandboxes.starters import seed_builtin_starters

QUESTION = "How do I connect an MCP server over streamable HTTP?"
SOURCE_LINE = re.compile(r"(?m)^\[(\d+)\] (.+?) — (\S+)$")


def test_the_corpus_holds_a_few_dozen_real_documents_with_their_sources():
    documents = corpus().documents
    assert len(documents) >= 30
    assert {"sdk/mcp", "sdk/tools", "sdk/sandbox/guide"} <= set(documents)
    assert any(doc_id.startswith("dashboard/") for doc_id in documents)  # the README's sections
    mcp = documents["sdk/mcp"]
    assert mcp.url == "https://openai.github.io/openai-agents-python/mcp/"
    assert "MCPServerStreamableHttp" in mcp.text


def test_search_ranks_the_relevant_page_first_and_fetch_returns_it_with_its_source():
    results = search_text(QUESTION)
    assert re.search(r"(?m)^1\. \[sdk/mcp\] Agents SDK: Model context protocol", results)
    approvals = search_text("human approval of tool calls interruptions")
    assert "[sdk/human_in_the_loop]" in approvals.splitlines()[1]
    page = fetch_text("sdk/mcp")
    assert page.startswith("Title: Agents SDK: Model context protocol (MCP)\n")
    assert "Source: https://openai.github.io/openai-agents-python/mcp/" in page
    assert "No document with id" in fetch_text("sdk/nope")
    assert "No document matches" in search_text("zzqxv")


# Marked like every async test of the suite: without it, run after the browser tests (whose
# sync Playwright stays open), pytest-asyncio found a running loop and could not start.
@pytest.mark.django_db(transaction=True)
async def test_the_server_answers_only_the_dashboard():
    server = await asyncio.to_thread(builtin_server)
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(timeout=5) as client:
        without = await client.post(server.url, json=request, headers=headers)
        forged = await client.post(
            server.url, json=request, headers=headers | {"Authorization": "Bearer guess"}
        )
    assert without.status_code == forged.status_code == 401
    assert await asyncio.to_thread(builtin_server) is server  # one per process


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    monkeypatch.setattr(
        runs.tasks,
        "run_after_session_start_task",
        SimpleNamespace(enqueue=lambda *a: calls.append(a)),
    )
    return calls


@pytest.mark.django_db(transaction=True)
async def test_deep_research_runs_offline_with_the_demo_model_and_cites_what_it_fetched(
    alice, enqueued
):
    await sync_to_async(seed_builtin_starters)()
    run = await sync_to_async(presets.launch_deep_research)(
        owner=alice, model="demo", question=QUESTION
    )
    agent = await AgentConfig.objects.aget(owner=alice, preset=presets.DEEP_RESEARCH)
    assert [(s["name"], s["kind"]) for s in agent.mcp_servers] == [("docs", "builtin")]
    assert enqueued == [(run.pk,)]

    try:
        await asyncio.wait_for(run_after_session_start(run_id=run.pk), timeout=120)
        await run.arefresh_from_db()
        assert run.status == Run.Status.SUCCEEDED, run.error

        events = [e async for e in RunEvent.objects.filter(run=run).order_by("seq")]
        [tools] = [e.payload for e in events if e.kind == "mcp_tools"]
        assert tools["tools"] == ["search", "fetch"] and tools["server"] == "docs"
        calls = [e.payload for e in events if e.kind == "tool_call"]
        assert [c["tool"] for c in calls[:4]] == ["search", "fetch", "fetch", "fetch"]
        assert all(c.get("server") == "docs" for c in calls[:4])
        outputs = {
            e.payload["call"]: e.payload["output"] for e in events if e.kind == "tool_output"
        }
        fetched = {
            re.search(r"(?m)^Source: (\S+)", outputs[c["call"]])[1]
            for c in calls
            if c["tool"] == "fetch"
        }
        assert outputs[calls[0]["call"]].startswith("5 results for")  # shown as text, not JSON

        answer = run.final_output
        assert "Offline demo model" in answer
        sources = SOURCE_LINE.findall(answer)
        assert len(sources) == 3
        assert {url for _, _, url in sources} == fetched  # cites exactly what it fetched
        assert "https://openai.github.io/openai-agents-python/mcp/" in fetched
        cited = {int(n) for n in re.findall(r"\[(\d)\]$", answer, flags=re.M)}
        assert cited and cited <= {int(n) for n, _, _ in sources}

        session = await SandboxSession.objects.aget(pk=run.session_id)
        notes = Path(session.workspace_root, "notes.md").read_text()
        assert QUESTION in notes and "openai-agents-python/mcp/" in notes

        # The server's token is in memory only: not in the database, events or SDK state.
        token = (await asyncio.to_thread(builtin_server)).token
        dump = io.StringIO()
        await sync_to_async(call_command)("dumpdata", stdout=dump)
        assert token not in dump.getvalue()
    finally:
        session = await SandboxSession.objects.aget(pk=run.session_id)
        if session.workspace_root:
            await sync_to_async(shutil.rmtree)(session.workspace_root, ignore_errors=True)


@pytest.mark.django_db
def test_the_agent_page_attaches_the_builtin_server_for_its_owner_only(client, alice, bob):
    from django.urls import reverse

    from tests.conftest import login

    agent = AgentConfig.objects.create(owner=alice, name="Reader", model="demo")
    url = reverse("agent_mcp_builtin", args=[agent.pk])
    login(client, bob)
    assert client.post(url).status_code == 404
    agent.refresh_from_db()
    assert agent.mcp_servers == []

    login(client, alice)
    page = client.get(reverse("agent_edit", args=[agent.pk])).content.decode()
    assert 'data-testid="attach-builtin-docs"' in page
    assert client.post(url).status_code == 302
    agent.refresh_from_db()
    assert [(s["name"], s["kind"]) for s in agent.mcp_servers] == [("docs", "builtin")]
    page = client.get(reverse("agent_edit", args=[agent.pk])).content.decode()
    assert "built-in (offline docs corpus) · search, fetch" in page
    assert 'data-testid="attach-builtin-docs"' not in page  # attached once
