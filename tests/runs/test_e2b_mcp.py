"""E2B's MCP gateway: the sandbox is created with the MCP settings, they are sealed at rest, and
the agent connects to the gateway inside the sandbox with the sandbox's bearer token.

E2B itself is faked as in tests/fakes/e2b.py (its FakeSandbox, and its `e2b_http` network for
every test here). The gateway is not: the fake sandbox's `get_mcp_url()` points at a real MCP
server on loopback (tests/fakes/mcp.py), so the SDK's MCP connection is real.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from types import SimpleNamespace

import e2b
import e2b_code_interpreter
import pytest
from agents.testing import ModelStep, function_call
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.urls import reverse

import runs.tasks
from lib.secrets import is_sealed, unseal
from runs import presets
from runs.executor import run_execute
from runs.lanes import LaneGroupRefused, LaneSpec, lane_group_create, lane_group_execute
from runs.mcp import E2B_GATEWAY_NAME, e2b_server_spec
from runs.models import AgentConfig, LaneGroup, Run
from sandboxes import services
from sandboxes.models import SandboxSession
from sandboxes.starters import seed_builtin_starters

from ..conftest import PASSWORD
from ..fakes.e2b import FakeE2BCloud, FakeSandbox
from ..fakes.mcp import LoopbackMCP, search_result
from ..helpers import answer_step, config, events_of, use_model

# Every request of the `e2b` package fails as if offline (the MCP client talks through httpx2,
# which this leaves alone, so loopback MCP still works).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("e2b_http")]

EXA_KEY = "exa-live-" + "7f3a9c" * 5
QUERY = "who maintains the e2b mcp gateway"
RUN_TIMEOUT = 60


# --- E2B with an MCP gateway ---------------------------------------------------------------------


class FakeGatewaySandbox(FakeSandbox):
    """A fake E2B sandbox whose MCP gateway is the loopback server of its cloud."""

    cloud: McpCloud

    def created_with(self) -> dict:
        number = int(self.sandbox_id.rsplit("-", 1)[1])
        return self.cloud.creates[number - 1][1]

    def get_mcp_url(self) -> str:
        return self.cloud.gateway.url

    async def get_mcp_token(self) -> str | None:
        self.cloud.token_requests.append(self.sandbox_id)
        if not self.created_with().get("mcp"):
            return None  # E2B: no token without MCP servers
        return f"gw-token-for-{self.sandbox_id}"


class McpCloud(FakeE2BCloud):
    def __init__(self, gateway: LoopbackMCP) -> None:
        super().__init__()
        self.gateway = gateway
        self.token_requests: list[str] = []

    def sandbox_class(self, kind: str) -> type[FakeGatewaySandbox]:
        return type(
            f"FakeGatewaySandbox_{kind}", (FakeGatewaySandbox,), {"cloud": self, "kind": kind}
        )


@pytest.fixture
def gateway():
    server = LoopbackMCP().start()
    yield server
    server.stop()


@pytest.fixture
def cloud(monkeypatch, gateway) -> McpCloud:
    cloud = McpCloud(gateway)
    monkeypatch.setattr(e2b, "AsyncSandbox", cloud.sandbox_class("e2b"))
    monkeypatch.setattr(e2b_code_interpreter, "AsyncSandbox", cloud.sandbox_class("code"))
    return cloud


@pytest.fixture(autouse=True)
def enqueued(monkeypatch) -> list[tuple]:
    """Background work the code asked for; the tests run it themselves."""
    calls: list[tuple] = []
    for name in ("lane_group_execute_task", "run_after_session_start_task", "run_execute_task"):
        monkeypatch.setattr(
            runs.tasks,
            name,
            SimpleNamespace(enqueue=lambda *args, name=name: calls.append((name, *args))),
        )
    return calls


@pytest.fixture
def starters(db):
    return {m.slug: m for m in seed_builtin_starters()}


def gateway_search_step(call_id: str = "gw-1") -> ModelStep:
    return ModelStep(output=[function_call("search", {"query": QUERY}, call_id=call_id)])


def dump_database() -> str:
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    return out.getvalue()


async def assert_secret_nowhere_in_clear(*secrets: str) -> None:
    dump = await sync_to_async(dump_database)()
    for secret in secrets:
        assert secret not in dump


async def assert_called_the_gateway(run: Run, gateway: LoopbackMCP, token: str) -> None:
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert gateway.requests
    assert gateway.header_values("authorization") == [f"Bearer {token}"] * len(gateway.requests)
    events = await events_of(run)
    [listed] = [e.payload for e in events if e.kind == "mcp_tools"]
    assert listed == {"server": E2B_GATEWAY_NAME, "url": gateway.url, "tools": ["search"]}
    [call] = [e.payload for e in events if e.kind == "tool_call"]
    assert (call["tool"], call["server"]) == ("search", E2B_GATEWAY_NAME)
    assert json.loads(call["arguments"]) == {"query": QUERY}
    [output] = [e.payload for e in events if e.kind == "tool_output"]
    assert search_result(QUERY) in output["output"]
    assert token not in json.dumps([e.payload for e in events])


# --- the deep research preset --------------------------------------------------------------------


async def test_deep_research_creates_the_sandbox_with_the_gateway_and_uses_it(
    async_client, alice, starters, e2b_key, cloud, gateway, enqueued, settings, e2b_http
):
    settings.OPENAI_API_KEY_SET = True  # lets the form take the scripted model's name
    use_model("researcher", [gateway_search_step(), answer_step("A sourced summary.")])
    assert await async_client.alogin(username="alice", password=PASSWORD)
    page = (await async_client.get(reverse("presets"))).content.decode()
    assert 'name="research-exa_api_key"' in page  # offered: this server has E2B

    response = await async_client.post(
        reverse("presets"),
        {
            "preset": "deep-research",
            "research-question": "Who maintains the E2B MCP gateway?",
            "research-model": "researcher",
            "research-mcp_url": "",
            "research-mcp_headers": "",
            "research-exa_api_key": EXA_KEY,
            "research-browserbase_api_key": "",
        },
    )

    run = await Run.objects.select_related("session").aget(owner=alice)
    assert response.status_code == 302
    assert response.url == run.get_absolute_url()
    assert enqueued == [("run_after_session_start_task", run.pk)]
    session = run.session
    assert (session.backend, session.status) == ("e2b", SandboxSession.Status.CREATING)
    assert is_sealed(session.options["mcp"])
    assert unseal(session.options["mcp"]) == {"exa": {"apiKey": EXA_KEY}}
    agent = await AgentConfig.objects.aget(owner=alice, preset=presets.DEEP_RESEARCH)
    [spec] = agent.mcp_servers
    assert (spec["name"], spec["kind"]) == ("exa", "e2b")
    assert unseal(spec["settings"]) == {"apiKey": EXA_KEY}
    await assert_secret_nowhere_in_clear(EXA_KEY)

    # What the background task does: start the sandbox, then the run.
    await asyncio.wait_for(presets_run_after_start(run), timeout=RUN_TIMEOUT)

    # E2B was asked for a sandbox with the gateway and the Exa key.
    [(sandbox_class, received)] = cloud.creates
    assert sandbox_class == "e2b"
    assert received["mcp"] == {"exa": {"apiKey": EXA_KEY}}
    sandbox = cloud.only_sandbox()
    await session.arefresh_from_db()
    assert session.status == SandboxSession.Status.RUNNING, session.last_error
    # The SDK's stored state keeps the MCP settings: sealed.
    assert session.sdk_state["sandbox_id"] == sandbox.sandbox_id
    assert is_sealed(session.sdk_state["mcp"])
    assert unseal(session.sdk_state["mcp"]) == {"exa": {"apiKey": EXA_KEY}}
    # The run resumed that very sandbox (its stored state unsealed) and used its gateway.
    assert cloud.connects == [sandbox.sandbox_id]
    assert cloud.token_requests == [sandbox.sandbox_id]
    await run.arefresh_from_db()
    await assert_called_the_gateway(run, gateway, f"gw-token-for-{sandbox.sandbox_id}")
    assert run.final_output == "A sourced summary."
    assert gateway.queries == [QUERY]
    await assert_secret_nowhere_in_clear(EXA_KEY, f"gw-token-for-{sandbox.sandbox_id}")
    assert e2b_http.requests == []  # E2B's API was never called: all of it went to the fake

    # The pages say a gateway is attached, and nothing more.
    page = (await async_client.get(reverse("agent_edit", args=[agent.pk]))).content.decode()
    assert "E2B MCP gateway · settings set (hidden)" in page
    assert EXA_KEY not in page
    page = (await async_client.get(run.get_absolute_url())).content.decode()
    assert EXA_KEY not in page


async def presets_run_after_start(run: Run) -> None:
    from runs.lanes import run_after_session_start

    await run_after_session_start(run_id=run.pk)


async def test_a_later_run_resumes_the_sandbox_from_its_sealed_state(
    alice, starters, e2b_key, cloud, gateway, enqueued
):
    use_model("first", [answer_step("First look.")])
    run = await sync_to_async(presets.launch_deep_research)(
        owner=alice,
        model="first",
        question="First question",
        e2b_settings={"exa": {"apiKey": EXA_KEY}},
    )
    await asyncio.wait_for(presets_run_after_start(run), timeout=RUN_TIMEOUT)
    await run.arefresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    session = await SandboxSession.objects.aget(pk=run.session_id)
    sandbox = cloud.only_sandbox()
    # Stored again after the run (stop() then serialize): still sealed.
    assert is_sealed(session.sdk_state["mcp"])

    use_model("second", [gateway_search_step("gw-2"), answer_step("Second answer.")])
    second = await Run.objects.acreate(
        owner=alice,
        session=session,
        config=run.config | {"model": "second"},
        prompt="Second question",
    )
    await asyncio.wait_for(run_execute(run_id=second.pk), timeout=RUN_TIMEOUT)
    await second.arefresh_from_db()

    assert cloud.connects == [sandbox.sandbox_id, sandbox.sandbox_id]
    assert len(cloud.creates) == 1  # the same sandbox, never a new one
    await assert_called_the_gateway(second, gateway, f"gw-token-for-{sandbox.sandbox_id}")
    await session.arefresh_from_db()
    assert session.status == SandboxSession.Status.RUNNING
    assert session.last_error == ""
    assert is_sealed(session.sdk_state["mcp"])
    await assert_secret_nowhere_in_clear(EXA_KEY)


async def test_e2b_mcp_servers_on_a_sandbox_created_without_them_fail_clearly(
    alice, starters, e2b_key, cloud, gateway
):
    session = await SandboxSession.objects.acreate(
        owner=alice,
        manifest=starters["research-notes"],
        name="plain box",
        backend="e2b",
        options={"exposed_ports": []},
    )
    await services.session_start(session_id=session.pk)
    await session.arefresh_from_db()
    assert session.status == SandboxSession.Status.RUNNING, session.last_error
    [(_, received)] = cloud.creates
    assert received["mcp"] is None
    use_model("researcher", [gateway_search_step(), answer_step("Should not get here.")])
    mcp = [e2b_server_spec(name="exa", settings={"apiKey": EXA_KEY})]
    run = await Run.objects.acreate(
        owner=alice,
        session=session,
        config=config("researcher", mcp_servers=mcp),
        prompt="Search.",
    )

    await asyncio.wait_for(run_execute(run_id=run.pk), timeout=RUN_TIMEOUT)
    await run.arefresh_from_db()

    assert "Bearer None" not in gateway.header_values("authorization")
    assert run.status == Run.Status.FAILED
    assert "MCP" in run.error


# --- lanes -------------------------------------------------------------------------------------


async def test_an_e2b_lane_with_the_gateway_runs_beside_a_local_lane(
    alice, starters, e2b_key, cloud, gateway, enqueued
):
    use_model("researcher", [gateway_search_step(), answer_step("Found it via Exa.")])
    use_model("reader", [answer_step("Read the README.")])
    coordinator_model = use_model("coordinator", [answer_step("Merged.")])
    mcp = [e2b_server_spec(name="exa", settings={"apiKey": EXA_KEY})]
    lanes = [
        LaneSpec(
            label="Web",
            config=config(model="researcher", capabilities=["shell"], mcp_servers=mcp),
            prompt="Search the web.",
            manifest=starters["research-notes"],
            backend=SandboxSession.Backend.E2B,
        ),
        LaneSpec(
            label="Repo",
            config=config(model="reader", capabilities=["shell"]),
            prompt="Read the repo.",
            manifest=starters["fullstack-sample"],
        ),
    ]
    group = await sync_to_async(lane_group_create)(
        owner=alice, title="Mixed", task="Merge.", lanes=lanes, coordinator=config("coordinator")
    )
    assert enqueued == [("lane_group_execute_task", group.pk)]
    web_session = await SandboxSession.objects.aget(backend="e2b")
    assert unseal(web_session.options["mcp"]) == {"exa": {"apiKey": EXA_KEY}}
    local_session = await SandboxSession.objects.aget(backend="local")
    assert "mcp" not in local_session.options

    try:
        await asyncio.wait_for(lane_group_execute(group_id=group.pk), timeout=RUN_TIMEOUT)
        runs_ = {r.lane_label: r async for r in Run.objects.filter(lane_group=group)}
    finally:
        await local_session.arefresh_from_db()
        if local_session.workspace_root:
            import shutil

            await sync_to_async(shutil.rmtree)(local_session.workspace_root, ignore_errors=True)

    [(_, received)] = cloud.creates  # only the E2B lane went to E2B
    assert received["mcp"] == {"exa": {"apiKey": EXA_KEY}}
    sandbox = cloud.only_sandbox()
    await assert_called_the_gateway(runs_["Web"], gateway, f"gw-token-for-{sandbox.sandbox_id}")
    assert runs_["Repo"].status == Run.Status.SUCCEEDED, runs_["Repo"].error
    assert not await Run.objects.filter(pk=runs_["Repo"].pk, events__kind="mcp_tools").aexists()
    assert runs_["Coordinator"].status == Run.Status.SUCCEEDED, runs_["Coordinator"].error
    given = json.dumps(coordinator_model.first_call.input, ensure_ascii=False)
    assert "Found it via Exa." in given and "Read the README." in given
    await web_session.arefresh_from_db()
    assert is_sealed(web_session.sdk_state["mcp"])
    await assert_secret_nowhere_in_clear(EXA_KEY)


def test_a_local_lane_with_e2b_mcp_servers_is_refused(alice, starters, e2b_key, enqueued):
    mcp = [e2b_server_spec(name="exa", settings={"apiKey": EXA_KEY})]
    lanes = [
        LaneSpec(
            label=label,
            config=config(mcp_servers=mcp),
            prompt="Search.",
            manifest=starters["research-notes"],
        )
        for label in ("One", "Two")
    ]

    with pytest.raises(
        LaneGroupRefused, match=re.escape("Lane “One” uses E2B MCP servers: pick E2B.")
    ):
        lane_group_create(owner=alice, title="T", task="Merge.", lanes=lanes, coordinator=config())

    assert not LaneGroup.objects.exists()
    assert not Run.objects.exists()
    assert not SandboxSession.objects.exists()
    assert enqueued == []
