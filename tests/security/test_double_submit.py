"""Item 7: every create form, sent twice at once (a double click), creates one thing.

Each form is read from its page as the browser gets it (with its form token), then posted
twice concurrently, each request on its own thread as daphne runs them. One object appears;
both answers send the browser to it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from comparisons.models import Comparison, ShareLink, Version
from lib import task_backends
from runs.models import AgentConfig, Lane, LaneGroup, Run
from sandboxes import services as sandbox_services
from sandboxes.models import Manifest, Preview, SandboxSession

from ..conftest import alogin

pytestmark = pytest.mark.django_db(transaction=True)


class FormReader(HTMLParser):
    """The fields of the form whose action is `action` (or the n-th form without one), as a
    browser would submit them unchanged."""

    def __init__(self, action: str | None, index: int = 0) -> None:
        super().__init__()
        self.action, self.index = action, index
        self.seen, self.inside, self.done = 0, False, False
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None
        self._first_option: str | None = None

    def _matches(self, attrs: dict) -> bool:
        if self.action is not None:
            return attrs.get("action") == self.action
        if attrs.get("action"):
            return False
        self.seen += 1
        return self.seen - 1 == self.index

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        if tag == "form" and not self.inside and not self.done:
            self.inside = attrs.get("method", "").lower() == "post" and self._matches(attrs)
            return
        if not self.inside:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            if kind not in ("submit", "button", "file"):
                self.fields[name] = attrs.get("value", "on" if kind == "checkbox" else "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""
        elif tag == "select" and name:
            self._select, self._first_option = name, None
        elif tag == "option" and self._select:
            if self._first_option is None:
                self._first_option = attrs.get("value", "")
            if "selected" in attrs:
                self.fields[self._select] = attrs.get("value", "")

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select:
            self.fields.setdefault(self._select, self._first_option or "")
            self._select = None
        elif tag == "form" and self.inside:
            self.inside, self.done = False, True


@dataclass
class Case:
    page: str
    action: str | None
    data: dict
    count: object  # () -> int, the rows the form creates
    index: int = 0


@pytest.fixture(autouse=True)
def _no_background_work(monkeypatch):
    """The forms' background tasks (starting sandboxes, building versions...) are not what is
    tested here: they are recorded, not run."""
    monkeypatch.setattr(task_backends.ServerLoopBackend, "enqueue", lambda self, task, a, k: None)


@pytest.fixture
def objects(alice, starter, settings):
    settings.LOCAL_SANDBOXES = "everyone"
    session = SandboxSession.objects.create(
        owner=alice,
        manifest=starter,
        name="alice sandbox",
        status=SandboxSession.Status.RUNNING,
        sdk_state={"type": "unix_local", "manifest": {"root": "/nonexistent"}},
    )
    comparison = Comparison.objects.create(
        owner=alice, title="Ideas", manifest=starter, config={"model": "demo"}
    )
    Version.objects.create(comparison=comparison, label="A", prompt="a", position=0)
    agent = AgentConfig.objects.create(owner=alice, name="Reviewer", model="demo")
    directions = LaneGroup.objects.create(
        owner=alice, title="Homepage directions", task="A tea shop", mode=LaneGroup.Mode.AGENT
    )
    for position, label in enumerate(["Split", "Editorial"]):
        lane_session = SandboxSession.objects.create(
            owner=alice, manifest=starter, name=label, status=SandboxSession.Status.RUNNING
        )
        lane = Lane.objects.create(
            group=directions,
            position=position,
            label=label,
            tool_name=f"lane_{label.lower()}",
            description=label,
            session=lane_session,
            serves_preview=True,
        )
        Run.objects.create(
            owner=alice,
            session=lane_session,
            lane=lane,
            lane_group=directions,
            prompt="build it",
            status=Run.Status.SUCCEEDED,
        )
    return {
        "session": session,
        "comparison": comparison,
        "starter": starter,
        "agent": agent,
        "directions": directions,
    }


def cases(o) -> dict[str, Case]:
    starter, session, comparison, agent = o["starter"], o["session"], o["comparison"], o["agent"]
    manifest_page = reverse("manifest_detail", args=[starter.pk])
    return {
        "create sandbox": Case(
            manifest_page,
            reverse("session_create", args=[starter.pk]),
            {"name": "twice"},
            lambda: SandboxSession.objects.filter(name="twice").count(),
        ),
        "clone a starter": Case(
            manifest_page,
            reverse("manifest_clone", args=[starter.pk]),
            {},
            lambda: Manifest.objects.filter(name__endswith="(copy)").count(),
        ),
        "new manifest": Case(
            reverse("manifest_new"),
            None,
            {"name": "Twice"},
            lambda: Manifest.objects.filter(name="Twice").count(),
        ),
        "start a preview": Case(
            session.get_absolute_url(),
            reverse("preview_create", args=[session.pk]),
            {},
            lambda: Preview.objects.filter(session=session).count(),
        ),
        "start a run": Case(
            session.get_absolute_url(),
            reverse("run_create", args=[session.pk]),
            {"prompt": "only once"},
            lambda: Run.objects.filter(prompt="only once").count(),
        ),
        "build versions": Case(
            reverse("comparison_new", args=[starter.pk]),
            None,
            {"title": "Twice", "prompt_1": "one", "prompt_2": "two"},
            lambda: Comparison.objects.filter(title="Twice").count(),
        ),
        "add a version": Case(
            comparison.get_absolute_url(),
            reverse("comparison_add_version", args=[comparison.pk]),
            {"label": "B", "prompt": "b"},
            lambda: comparison.versions.count() - 1,
        ),
        "create a share link": Case(
            comparison.get_absolute_url(),
            reverse("share_create", args=["comparison", comparison.pk]),
            {},
            lambda: ShareLink.objects.count(),
        ),
        "new agent": Case(
            reverse("agent_new"),
            None,
            {"name": "Twice"},
            lambda: AgentConfig.objects.filter(name="Twice").count(),
        ),
        "new lane group": Case(
            reverse("lane_group_new"),
            None,
            {
                "title": "Twice",
                "coordinator": str(agent.pk),
                "agent_1": str(agent.pk),
                "manifest_1": str(starter.pk),
                "prompt_1": "one",
                "agent_2": str(agent.pk),
                "manifest_2": str(starter.pk),
                "prompt_2": "two",
            },
            lambda: LaneGroup.objects.filter(title="Twice").count(),
        ),
        "launch code review": Case(
            reverse("presets"),
            None,
            {},
            lambda: LaneGroup.objects.filter(preset="fullstack-code-review").count(),
        ),
        "start deep research": Case(
            reverse("presets"),
            None,
            {
                "research-question": "What is a sandbox?",
                "research-mcp_url": "http://127.0.0.1:9/mcp",
            },
            lambda: Run.objects.filter(prompt="What is a sandbox?").count(),
            index=2,
        ),
        "build homepage directions": Case(
            reverse("presets"),
            None,
            {},
            lambda: LaneGroup.objects.filter(preset="homepage-directions").count(),
            index=1,
        ),
        "open lanes as comparison": Case(
            reverse("lane_group_detail", args=[o["directions"].pk]),
            reverse("comparison_from_lanes", args=[o["directions"].pk]),
            {},
            lambda: Comparison.objects.filter(title="Homepage directions").count(),
        ),
    }


async def read_form(client, case: Case) -> dict:
    page = await client.get(case.page)
    assert page.status_code == 200, page.content[:500]
    reader = FormReader(case.action, case.index)
    reader.feed(page.content.decode())
    assert reader.done, f"no form for {case.action or case.index} on {case.page}"
    assert reader.fields.get("form_token"), "the form carries no form token"
    return reader.fields | case.data


CASE_NAMES = [
    "create sandbox",
    "clone a starter",
    "new manifest",
    "start a preview",
    "start a run",
    "build versions",
    "add a version",
    "create a share link",
    "new agent",
    "new lane group",
    "launch code review",
    "start deep research",
    "build homepage directions",
    "open lanes as comparison",
]


@pytest.mark.parametrize("name", CASE_NAMES)
async def test_a_double_submit_creates_one_thing(async_client, alice, objects, name):
    case = (await sync_to_async(cases)(objects))[name]
    await alogin(async_client, alice)
    data = await read_form(async_client, case)
    action = case.action or case.page

    first, second = await asyncio.gather(
        async_client.post(action, data), async_client.post(action, data)
    )

    assert await sync_to_async(case.count)() == 1
    targets = {r.headers.get("HX-Redirect") or r.headers.get("Location") for r in (first, second)}
    assert None not in targets and len(targets) == 1, [first, second]


async def test_a_repeat_waits_for_a_slow_first_submission(
    async_client, alice, objects, monkeypatch
):
    create = sandbox_services.session_create

    def slow_create(**kwargs):
        time.sleep(0.5)  # the second click lands while the first is still creating
        return create(**kwargs)

    monkeypatch.setattr(sandbox_services, "session_create", slow_create)
    case = (await sync_to_async(cases)(objects))["create sandbox"]
    await alogin(async_client, alice)
    data = await read_form(async_client, case)

    first = asyncio.ensure_future(async_client.post(case.action, data))
    await asyncio.sleep(0.1)
    second = await async_client.post(case.action, data)

    assert (await first).status_code == 302
    assert second.status_code == 302 and second["Location"] == (await first)["Location"]
    assert await sync_to_async(case.count)() == 1


async def test_a_refused_form_can_be_corrected_and_sent_again(async_client, alice, objects):
    case = (await sync_to_async(cases)(objects))["new manifest"]
    await alogin(async_client, alice)
    data = await read_form(async_client, case)

    refused = await async_client.post(reverse("manifest_new"), data | {"name": ""})
    assert refused.status_code == 400
    accepted = await async_client.post(reverse("manifest_new"), data)
    assert accepted.status_code == 302
    assert await sync_to_async(case.count)() == 1
