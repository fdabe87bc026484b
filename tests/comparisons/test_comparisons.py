"""Comparisons: created from the page, built end to end on the real local backend.

Builds use the offline demo model and a preview command that needs no npm (Python's
http.server), so a version really goes sandbox -> agent run -> dev server -> ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import httpx
import pytest
from agents.testing import ModelStep
from django.test import AsyncClient
from django.urls import reverse

from comparisons import services
from comparisons.models import Comparison, Version
from lib import task_backends
from runs.models import Run
from sandboxes.models import Preview, SandboxSession
from sandboxes.services import session_shutdown

from ..conftest import alogin
from ..fakes.previews import SERVER
from ..helpers import config, until_ended, use_model


def form_data(prompts: list[str], **extra) -> dict:
    data = {
        "title": "Hero ideas",
        "backend": "local",
        "agent-name": "Builder",
        "agent-model": "demo",
        "agent-instructions": "Be careful.",
        "agent-developer_instructions": "",
        "agent-capabilities": ["shell", "filesystem"],
        "agent-tool_choice": "auto",
        "agent-max_turns": "20",
    }
    for i, prompt in enumerate(prompts, start=1):
        data[f"prompt_{i}"] = prompt
    return data | extra


# --- creating ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_creating_a_comparison_makes_one_version_per_prompt_and_queues_their_builds(
    client, alice, starter, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    data = form_data(["Make it bold", "", "Make it calm"], label_1="Bold")

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("comparison_new", args=[starter.pk]), data)

    comparison = Comparison.objects.get()
    assert response.status_code == 302 and response.url == comparison.get_absolute_url()
    assert (comparison.owner, comparison.title, comparison.manifest) == (
        alice,
        "Hero ideas",
        starter,
    )
    assert comparison.config["model"] == "demo" and comparison.config["backend"] == "local"
    versions = list(comparison.versions.values_list("label", "prompt", "position", "stage"))
    assert versions == [
        ("Bold", "Make it bold", 0, "sandbox"),
        ("Version 2", "Make it calm", 1, "sandbox"),
    ]
    assert len(callbacks) == 2


@pytest.mark.django_db
@pytest.mark.parametrize("prompts", [[], ["Only one"], ["Only one", "   "]])
def test_fewer_than_two_prompts_is_a_clear_error_and_creates_nothing(
    client, alice, starter, prompts, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("comparison_new", args=[starter.pk]), form_data(prompts))

    assert response.status_code == 400
    assert "Write at least two prompts" in response.content.decode()
    assert Comparison.objects.count() == 0 and Version.objects.count() == 0
    assert callbacks == []


@pytest.mark.django_db
def test_the_form_has_six_prompt_fields_and_ignores_a_seventh(client, alice, starter):
    client.force_login(alice)
    page = client.get(reverse("comparison_new", args=[starter.pk])).content.decode()
    assert 'name="prompt_6"' in page and 'name="prompt_7"' not in page

    prompts = [f"Idea {i}" for i in range(1, 8)]
    client.post(reverse("comparison_new", args=[starter.pk]), form_data(prompts))

    assert list(Version.objects.values_list("prompt", flat=True)) == prompts[:6]


@pytest.mark.django_db
def test_comparison_create_refuses_seven_prompts_and_creates_nothing(alice, starter):
    prompts = [(f"v{i}", f"Idea {i}") for i in range(7)]
    with pytest.raises(services.ComparisonRefused, match="2 to 6"):
        services.comparison_create(
            owner=alice, manifest=starter, title="", config=config(), prompts=prompts
        )
    assert Comparison.objects.count() == 0


@pytest.mark.django_db
def test_version_add_refuses_a_seventh_version(alice, starter):
    comparison = services.comparison_create(
        owner=alice,
        manifest=starter,
        title="",
        config=config(),
        prompts=[(f"v{i}", f"Idea {i}") for i in range(6)],
    )
    assert comparison.title == starter.name

    with pytest.raises(services.ComparisonRefused, match="at most 6"):
        services.version_add(comparison=comparison, label="v7", prompt="One more")

    assert comparison.versions.count() == 6


@pytest.mark.django_db
def test_version_add_refuses_an_empty_prompt(alice, starter):
    comparison = Comparison.objects.create(owner=alice, title="c", manifest=starter)
    with pytest.raises(services.ComparisonRefused, match="needs a prompt"):
        services.version_add(comparison=comparison, label="x", prompt="  \n")
    assert comparison.versions.count() == 0


@pytest.fixture
def alices_comparison(alice, starter):
    comparison = Comparison.objects.create(
        owner=alice, title="Alice's ideas", manifest=starter, config=config()
    )
    for i in range(2):
        Version.objects.create(comparison=comparison, label=f"v{i}", prompt="p", position=i)
    return comparison


@pytest.mark.django_db
def test_the_owner_adds_a_version_from_the_page(
    client, alice, alices_comparison, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    url = reverse("comparison_add_version", args=[alices_comparison.pk])

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, {"label": "", "prompt": "A third idea"})

    assert response.status_code == 302 and response.url == alices_comparison.get_absolute_url()
    added = alices_comparison.versions.last()
    assert (added.label, added.prompt, added.position) == ("Version 3", "A third idea", 2)
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_adding_a_seventh_version_from_the_page_is_refused_with_a_message(
    client, alice, alices_comparison
):
    for i in range(2, 6):
        Version.objects.create(comparison=alices_comparison, label=f"v{i}", prompt="p")
    client.force_login(alice)
    url = reverse("comparison_add_version", args=[alices_comparison.pk])

    response = client.post(url, {"label": "v7", "prompt": "One too many"}, follow=True)

    assert alices_comparison.versions.count() == 6
    messages = [str(m) for m in response.context["messages"]]
    assert any("at most 6" in m for m in messages), messages
    assert "Add a version" not in response.content.decode()  # the form is gone at 6


@pytest.mark.django_db
def test_bob_gets_404_for_alices_comparison_and_cannot_add_to_it(client, bob, alices_comparison):
    client.force_login(bob)

    assert client.get(alices_comparison.get_absolute_url()).status_code == 404
    url = reverse("comparison_add_version", args=[alices_comparison.pk])
    assert client.post(url, {"label": "x", "prompt": "steal"}).status_code == 404
    assert alices_comparison.versions.count() == 2
    assert "Alice's ideas" not in client.get(reverse("comparison_list")).content.decode()


@pytest.mark.django_db
def test_the_owner_sees_the_versions_on_the_comparison_page(client, alice, alices_comparison):
    client.force_login(alice)
    response = client.get(alices_comparison.get_absolute_url())
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('data-testid="version"') == 2
    assert 'hx-trigger="every 2s"' in page  # versions still building refresh themselves


@pytest.mark.django_db
def test_a_polling_card_part_gets_only_itself_and_another_comparisons_card_is_a_404(
    client, alice, alices_comparison
):
    client.force_login(alice)
    first, second = alices_comparison.versions.all()
    # What htmx sends when a part of a card polls itself (hx-target="this" on its element).
    for part in ("facts", "frame"):
        headers = {"HX-Request": "true", "HX-Target": f"version-{second.pk}-{part}"}
        response = client.get(alices_comparison.get_absolute_url(), headers=headers)
        fragment = response.content.decode()
        assert response.status_code == 200
        assert "<html" not in fragment and 'data-testid="version"' not in fragment
        assert (
            fragment.lstrip().startswith("<div") and f'id="version-{second.pk}-{part}"' in fragment
        )
        assert f'id="version-{first.pk}-' not in fragment
    assert (
        second.prompt
        in client.get(
            alices_comparison.get_absolute_url(),
            headers={"HX-Request": "true", "HX-Target": f"version-{second.pk}-facts"},
        ).content.decode()
    )
    for target in ("version-999999-facts", f"version-{second.pk}-iframe", f"version-{second.pk}"):
        stranger = {"HX-Request": "true", "HX-Target": target}
        assert client.get(alices_comparison.get_absolute_url(), headers=stranger).status_code == 404


# --- building ----------------------------------------------------------------------------------


def group_alive(pgid: int | None) -> bool:
    if not pgid:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def use_preview_command(monkeypatch, command: str) -> None:
    """The command a version's preview gets by default (the model field's default too)."""
    monkeypatch.setattr(Preview, "DEFAULT_COMMAND", command)
    monkeypatch.setattr(Preview._meta.get_field("command"), "default", command)


@pytest.fixture
async def builds(monkeypatch, settings, tmp_path):
    """Background tasks run on this loop; every sandbox and dev server is gone afterwards."""
    settings.PREVIEW_MODULES_CACHE = tmp_path / "modules-cache"
    monkeypatch.setattr(task_backends, "_server_loop", asyncio.get_running_loop())
    use_preview_command(monkeypatch, SERVER)
    before = set(task_backends._running)
    yield
    pgids = [p.pid async for p in Preview.objects.all()]
    async for session in SandboxSession.objects.exclude(status=SandboxSession.Status.STOPPED):
        await session_shutdown(session=session)
    for future in task_backends._running - before:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.wrap_future(future), 10)
    for pgid in pgids:
        if pgid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)


async def new_version(owner, manifest, model: str = "demo") -> Version:
    comparison = await Comparison.objects.acreate(
        owner=owner, title="Build", manifest=manifest, config=config(model) | {"backend": "local"}
    )
    return await Version.objects.acreate(
        comparison=comparison, label="Bold", prompt="Make the hero bold", position=0
    )


async def build(version: Version) -> Version:
    await asyncio.wait_for(services.version_build(version_id=version.pk), 60)
    return await Version.objects.select_related("run", "preview", "session").aget(pk=version.pk)


@pytest.mark.django_db(transaction=True)
async def test_a_version_builds_end_to_end_to_a_ready_preview(alice, starter, builds):
    version = await build(await new_version(alice, starter))

    assert version.stage == Version.Stage.READY, version.error
    assert version.error == ""
    assert version.session.status == SandboxSession.Status.RUNNING
    assert version.session.owner_id == alice.pk
    assert version.run.status == Run.Status.SUCCEEDED
    assert version.run.prompt == "Make the hero bold"
    assert version.run.final_output
    assert version.preview.status == Preview.Status.READY
    assert version.preview.command == SERVER
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(version.preview.upstream_url + "src/App.tsx")
    assert response.status_code == 200
    assert "Make the hero bold" in response.text  # the demo agent's edit is what is served


@pytest.mark.django_db(transaction=True)
async def test_files_changed_lists_app_tsx_as_modified_after_the_demo_run(alice, starter, builds):
    version = await build(await new_version(alice, starter))

    assert {"path": "src/App.tsx", "change": "modified"} in version.files_changed
    paths = {f["path"] for f in version.files_changed}
    assert "package.json" not in paths and "index.html" not in paths
    assert not any(p.startswith("node_modules/") for p in paths)


@pytest.mark.django_db(transaction=True)
async def test_a_failed_run_fails_the_version_and_starts_no_preview(alice, starter, builds):
    use_model("broken", [ModelStep.raise_error(RuntimeError("model is overloaded"))])

    version = await build(await new_version(alice, starter, model="broken"))

    assert version.stage == Version.Stage.FAILED
    assert version.run.status == Run.Status.FAILED
    assert version.error.startswith("The run failed:")
    assert "model is overloaded" in version.error
    assert version.preview is None
    assert not await Preview.objects.aexists()
    assert version.files_changed == []


@pytest.mark.django_db(transaction=True)
async def test_a_preview_that_fails_fails_the_version_with_its_error(
    alice, starter, builds, monkeypatch
):
    use_preview_command(monkeypatch, "echo boom; exit 3")

    version = await build(await new_version(alice, starter))

    assert version.stage == Version.Stage.FAILED
    assert version.run.status == Run.Status.SUCCEEDED
    assert version.error.startswith("The preview failed:")
    assert "exited with code 3" in version.error
    assert version.preview.status == Preview.Status.FAILED
    assert "boom" in version.preview.log
    assert not group_alive(version.preview.pid)


@pytest.mark.django_db(transaction=True)
async def test_a_version_whose_starter_is_gone_fails_clearly(alice, starter, builds):
    version = await new_version(alice, starter)
    await Comparison.objects.filter(pk=version.comparison_id).aupdate(manifest=None)

    version = await build(version)

    assert version.stage == Version.Stage.FAILED
    assert "DoesNotExist" in version.error
    assert version.session is None and version.run is None


@pytest.mark.django_db(transaction=True)
async def test_building_a_version_twice_does_nothing_the_second_time(alice, starter, builds):
    version = await build(await new_version(alice, starter, model="broken"))
    assert version.stage == Version.Stage.FAILED
    sessions = await SandboxSession.objects.acount()

    await services.version_build(version_id=version.pk)

    assert await SandboxSession.objects.acount() == sessions
    assert await Run.objects.acount() == 1


# --- refining a version ------------------------------------------------------------------------


async def card_part(client, version: Version, part: str) -> str:
    response = await client.get(
        f"/comparisons/{version.comparison_id}/",
        headers={"HX-Request": "true", "HX-Target": f"version-{version.pk}-{part}"},
    )
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db(transaction=True)
async def test_refine_is_a_follow_up_turn_and_the_card_shows_it(alice, bob, starter, builds):
    version = await build(await new_version(alice, starter))
    assert version.stage == Version.Stage.READY, version.error
    client = await alogin(AsyncClient(), alice)
    frame = await card_part(client, version, "frame")
    assert "<iframe" in frame and "hx-get" not in frame  # nothing will reload the iframe

    url = reverse("version_refine", args=[version.comparison_id, version.pk])
    outsider = await alogin(AsyncClient(), bob)
    assert (await outsider.post(url, {"prompt": "steal"})).status_code == 404
    response = await client.post(
        url, {"prompt": "make the header blue"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    facts = response.content.decode()
    assert f'id="version-{version.pk}-facts"' in facts and 'hx-trigger="every 2s"' in facts
    refine = await Run.objects.select_related("thread").aget(prompt="make the header blue")
    assert (refine.thread_id, refine.turn) == (version.run.thread_id, 2)
    assert (await Version.objects.aget(pk=version.pk)).run_id == refine.pk  # its latest turn

    refine = await until_ended(refine, 60)
    assert refine.status == Run.Status.SUCCEEDED, refine.error
    facts = await card_part(client, version, "facts")
    assert '<span class="pill">turn 2</span> make the header blue' in facts
    assert "header colour: default → blue (#2563eb)" in facts  # turn 2's summary
    assert "Turn history (2)" in facts and "over 2 turns" in facts
    assert 'hx-trigger="every 2s"' not in facts  # nothing runs: the card stops polling
    version = await Version.objects.select_related("preview").aget(pk=version.pk)
    async with httpx.AsyncClient(timeout=5) as http:
        served = await http.get(version.preview.upstream_url + "src/App.tsx")
    assert '"header_color": "#2563eb"' in served.text  # the running preview serves the change


@pytest.mark.django_db(transaction=True)
async def test_refine_while_a_turn_runs_is_refused_with_the_reason(alice, starter, builds):
    version = await build(await new_version(alice, starter))
    await Run.objects.filter(pk=version.run_id).aupdate(status=Run.Status.RUNNING)
    client = await alogin(AsyncClient(), alice)
    response = await client.post(
        reverse("version_refine", args=[version.comparison_id, version.pk]),
        {"prompt": "make it dark"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400
    # The card's facts (and their form) are replaced, nothing else (static/js/refusals.js).
    assert response.headers["HX-Retarget"] == f"#version-{version.pk}-facts"
    html = response.content.decode()
    assert "<html" not in html
    assert "Another run is still active on this sandbox" in html and "make it dark" in html
    assert not await Run.objects.filter(prompt="make it dark").aexists()
    await Run.objects.filter(pk=version.run_id).aupdate(status=Run.Status.SUCCEEDED)
