"""The offline demo model does honest, deterministic work through the real Runner and tools."""

import difflib
from pathlib import Path

import pytest
from agents import Agent, RunConfig, Runner

from runs.demo import landing
from runs.demo.model import DemoModel
from runs.models import Run
from sandboxes.models import Manifest, ManifestEntry

from ..conftest import start_local_session
from ..helpers import events_of, execute, execute_turn

pytestmark = pytest.mark.django_db(transaction=True)


async def test_on_another_workspace_it_reads_files_and_reports_them(alice):
    manifest = await Manifest.objects.acreate(name="python tool", owner=alice)
    await ManifestEntry.objects.acreate(
        manifest=manifest, path="README.md", content="# Inventory tool\nTracks stock.\n"
    )
    await ManifestEntry.objects.acreate(
        manifest=manifest, path="inventory.py", content="def count(items):\n    return 3\n"
    )
    session = await start_local_session(alice, manifest)
    run = await execute(session, prompt="What is this project?", model="demo")

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert "2 file(s) found (README.md, inventory.py)" in run.final_output
    assert "# Inventory tool" in run.final_output
    assert "def count(items):" in run.final_output
    # It only looked; nothing changed.
    root = Path(session.workspace_root)
    assert sorted(p.name for p in root.iterdir()) == ["README.md", "inventory.py"]
    commands = [e.payload["command"] for e in await events_of(run) if e.kind == "tool_call"]
    assert len(commands) == 2 and "head -n 20" in commands[1]


async def test_without_a_sandbox_it_answers_from_its_input_deterministically():
    lanes = (
        "Frontend lane: the button has no label.\nMore detail.\n\n"
        "Backend lane: FAILED (timeout)\n\nGit lane: 3 commits touch auth."
    )
    agent = Agent(name="Coordinator", model=DemoModel())
    config = RunConfig(tracing_disabled=True)
    first = await Runner.run(agent, lanes, run_config=config)
    second = await Runner.run(agent, lanes, run_config=config)

    assert first.final_output == second.final_output
    assert first.final_output.startswith("Offline demo synthesis (no LLM): 3 section(s)")
    for line in (
        "- Frontend lane: the button has no label.",
        "- Backend lane: FAILED (timeout)",
        "- Git lane: 3 commits touch auth.",
    ):
        assert line in first.final_output


BRIEF = "A landing page for a bakery in Lyon. List the croissants."


def app_of(session) -> str:
    return Path(session.workspace_root, "src/App.tsx").read_text()


def changed_lines(old: str, new: str) -> list[str]:
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


async def commands_of(run) -> list[str]:
    return [
        e.payload.get("command") or e.payload["tool"]
        for e in await events_of(run)
        if e.kind == "tool_call"
    ]


async def test_it_builds_a_landing_page_from_the_brief(thread, local_session):
    run = await execute_turn(thread, BRIEF)

    assert run.status == Run.Status.SUCCEEDED, run.error
    spec = landing.spec_from_source(app_of(local_session))
    assert spec is not None and spec["brand"] == "Lyon Bakery"
    assert spec["features"][0]["title"] == "Croissants"
    assert "I built a landing page for “Lyon Bakery”" in run.final_output
    assert "(Offline demo model: a deterministic script, not an LLM.)" in run.final_output
    assert landing.LABEL in app_of(local_session)  # labelled on the page itself
    commands = await commands_of(run)
    assert commands[0].startswith("pwd && ls -la") and "apply_patch" in commands


async def test_follow_ups_change_only_what_they_ask_and_read_the_history(thread, local_session):
    await execute_turn(thread, BRIEF)
    built = app_of(local_session)

    blue = await execute_turn(thread, "make the header blue")
    assert blue.status == Run.Status.SUCCEEDED, blue.error
    after_blue = app_of(local_session)
    assert changed_lines(built, after_blue) == [
        '-  "header_color": null,',
        '+  "header_color": "#2563eb",',
    ]
    assert "Turn 2 of this conversation (it began with “A landing page for a bakery" in (
        blue.final_output
    )
    assert "header colour: default → blue (#2563eb)" in blue.final_output
    # It knew the workspace from turn 1's listing, in its history: no second listing.
    commands = await commands_of(blue)
    assert not any(c.startswith("pwd && ls") for c in commands)
    patch = next(
        e.payload["input"]
        for e in await events_of(blue)
        if e.kind == "tool_call" and e.payload["tool"] == "apply_patch"
    )
    assert [line for line in patch.splitlines() if line[:1] in "+-"] == [
        '-  "header_color": null,',
        '+  "header_color": "#2563eb",',
    ]

    retitled = await execute_turn(thread, 'change the headline to "Bread worth waking up for"')
    assert retitled.status == Run.Status.SUCCEEDED, retitled.error
    spec = landing.spec_from_source(app_of(local_session))
    assert spec["headline"] == "Bread worth waking up for"
    assert spec["header_color"] == "#2563eb"  # the earlier change stays
    assert len(changed_lines(after_blue, app_of(local_session))) == 2

    undone = await execute_turn(thread, "undo that")
    assert undone.status == Run.Status.SUCCEEDED, undone.error
    assert app_of(local_session) == after_blue
    assert "Undid the last change" in undone.final_output


async def test_a_request_it_cannot_map_changes_nothing_and_says_so(thread, local_session):
    await execute_turn(thread, BRIEF)
    before = app_of(local_session)
    run = await execute_turn(thread, "what do you think of it?")
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert app_of(local_session) == before
    assert "I did not change src/App.tsx" in run.final_output
    assert "apply_patch" not in await commands_of(run)


async def test_a_new_brief_in_a_conversation_builds_a_new_page(thread, local_session):
    await execute_turn(thread, BRIEF)
    run = await execute_turn(thread, "An elegant homepage for a photography studio called Lumen")
    spec = landing.spec_from_source(app_of(local_session))
    assert spec["brand"] == "Lumen" and spec["layout"] == "editorial"
    assert "Turn 2 of this conversation" in run.final_output
