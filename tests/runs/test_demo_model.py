"""The offline demo model does honest, deterministic work through the real Runner and tools."""

from pathlib import Path

import pytest
from agents import Agent, RunConfig, Runner

from runs.demo.model import DemoModel
from runs.demo.scripts.workspace import headline, page_style
from runs.models import Run
from sandboxes.models import Manifest, ManifestEntry

from ..conftest import start_local_session
from ..helpers import events_of, execute

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


def test_the_page_reflects_the_prompt():
    assert headline("A polished page for a bakery. With prices.") == "A polished page for a bakery."
    assert page_style("a dark theme")["background"] == "#0f172a"
    assert page_style("something polished")["background"].startswith("linear-gradient")
    assert page_style("plain and red")["accent"] == "#dc2626"
    assert len(headline("x" * 200)) <= 70
