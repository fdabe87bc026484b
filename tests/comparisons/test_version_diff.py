"""The diff between two versions' workspaces, next to each one's diff against the starter:
two real local sandboxes of the Vite starter, each built by the demo agent."""

import shutil
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient
from django.urls import reverse

from comparisons.models import Comparison, Version

from ..conftest import alogin, start_local_session
from ..helpers import config, execute

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def two_versions(alice, starter):
    comparison = await Comparison.objects.acreate(
        owner=alice, title="Two bakeries", manifest=starter, config=config()
    )
    versions = []
    for position, prompt in enumerate(["A landing page for a bakery", "A landing page for a gym"]):
        session = await start_local_session(alice, starter)
        run = await execute(session, prompt=prompt)
        assert run.status == "succeeded", run.error
        versions.append(
            await Version.objects.acreate(
                comparison=comparison,
                label=["Bakery", "Gym"][position],
                prompt=prompt,
                position=position,
                session=session,
                run=run,
            )
        )
    # One more difference of each kind: a file only the first has, one the second deleted.
    first, second = (Path(v.session.workspace_root) for v in versions)
    (first / "NOTES.md").write_text("bakery notes\n")
    (second / "README.md").unlink()
    yield comparison, versions
    for version in versions:
        await sync_to_async(shutil.rmtree)(version.session.workspace_root, ignore_errors=True)


def listed(section: str, path: str, change: str) -> bool:
    """Whether a section of the page lists `path` as added, modified or deleted."""
    return f'<code>{path}</code></a> <span class="change-{change}">{change}</span>' in section


async def test_the_diff_between_two_versions_file_by_file(alice, two_versions):
    comparison, (bakery, gym) = two_versions
    client = await alogin(AsyncClient(), alice)
    url = reverse("version_diff", args=[comparison.pk])
    page = (await client.get(url, {"a": bakery.pk, "b": gym.pk})).content.decode()

    between = page.split('data-testid="between"')[1].split('data-testid="first-vs-starter"')[0]
    assert "“Bakery” → “Gym”" in between
    assert listed(between, "src/App.tsx", "modified")
    assert listed(between, "NOTES.md", "deleted")
    assert listed(between, "README.md", "deleted")
    # The App's own words: the bakery's removed, the gym's added.
    assert '<span class="d-del">' in between and "Bakery" in between and "Gym" in between
    first = page.split('data-testid="first-vs-starter"')[1].split(
        'data-testid="second-vs-starter"'
    )[0]
    second = page.split('data-testid="second-vs-starter"')[1]
    assert listed(first, "NOTES.md", "added")
    assert "README.md" not in first
    assert listed(second, "README.md", "deleted")
    assert "src/App.tsx" in first and "src/App.tsx" in second

    # The other way round, NOTES.md is added rather than deleted.
    reverse_page = (await client.get(url, {"a": gym.pk, "b": bakery.pk})).content.decode()
    assert listed(reverse_page, "NOTES.md", "added")


async def test_the_same_version_twice_and_bobs_request_show_nothing(alice, bob, two_versions):
    comparison, (bakery, _) = two_versions
    client = await alogin(AsyncClient(), alice)
    url = reverse("version_diff", args=[comparison.pk])
    page = (await client.get(url, {"a": bakery.pk, "b": bakery.pk})).content.decode()
    assert "Pick two different versions." in page and 'data-testid="between"' not in page
    outsider = await alogin(AsyncClient(), bob)
    assert (await outsider.get(url, {"a": bakery.pk})).status_code == 404


async def test_a_stopped_sandbox_says_why_it_cannot_be_diffed(alice, two_versions):
    comparison, (bakery, gym) = two_versions
    await type(gym.session).objects.filter(pk=gym.session_id).aupdate(status="stopped")
    client = await alogin(AsyncClient(), alice)
    page = (
        await client.get(
            reverse("version_diff", args=[comparison.pk]), {"a": bakery.pk, "b": gym.pk}
        )
    ).content.decode()
    assert "shut down" in page
