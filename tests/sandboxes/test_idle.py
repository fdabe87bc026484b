"""Idle local sandboxes are paused: their dev servers stop, their files stay, Resume brings
them back. The deadline shows on the page, moves with every run and can be extended."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone

from runs.models import Run
from sandboxes import services
from sandboxes.models import Preview, SandboxSession
from sandboxes.reaper import reap_idle_sessions

from ..conftest import alogin
from ..fakes.previews import new_preview, supervisor, wait_for_status, wait_until_gone  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_new_local_sandbox_gets_the_idle_deadline(local_session, settings):
    assert settings.SANDBOX_IDLE_MINUTES == 30
    left = local_session.timeout_at - timezone.now()
    assert timedelta(minutes=29) < left <= timedelta(minutes=30)


async def test_an_idle_sandbox_is_paused_its_preview_stopped_its_files_kept(
    local_session,
    supervisor,  # noqa: F811
):
    preview = await new_preview(local_session)
    supervisor(preview)
    await wait_for_status(preview, Preview.Status.READY)
    root = local_session.workspace_root

    assert await reap_idle_sessions() == 0  # not idle yet: nothing happens
    await local_session.arefresh_from_db()
    assert local_session.status == SandboxSession.Status.RUNNING

    local_session.timeout_at = timezone.now() - timedelta(seconds=1)
    await local_session.asave(update_fields=["timeout_at"])
    assert await reap_idle_sessions() == 1

    await local_session.arefresh_from_db()
    await preview.arefresh_from_db()
    assert local_session.status == SandboxSession.Status.PAUSED
    assert preview.status == Preview.Status.STOPPED
    assert await wait_until_gone(preview.pid) == []  # the dev server's processes are gone
    assert os.path.isdir(root)

    await services.session_resume(session=local_session)
    await local_session.arefresh_from_db()
    assert local_session.status == SandboxSession.Status.RUNNING
    assert local_session.timeout_at > timezone.now() + timedelta(minutes=29)


async def test_a_busy_sandbox_is_never_paused_its_deadline_moves(local_session, alice):
    await Run.objects.acreate(
        owner=alice, session=local_session, config={"model": "demo"}, prompt="work"
    )
    local_session.timeout_at = timezone.now() - timedelta(seconds=1)
    await local_session.asave(update_fields=["timeout_at"])
    assert await reap_idle_sessions() == 0
    await local_session.arefresh_from_db()
    assert local_session.status == SandboxSession.Status.RUNNING
    assert local_session.timeout_at > timezone.now() + timedelta(minutes=29)


async def test_zero_minutes_means_never(alice, starter, settings):
    from ..conftest import start_local_session

    settings.SANDBOX_IDLE_MINUTES = 0
    session = await start_local_session(alice, starter)
    try:
        assert session.timeout_at is None
        assert await reap_idle_sessions() == 0
    finally:
        await services.session_shutdown(session=session)


async def test_the_page_shows_the_time_left_and_extends_it(local_session, alice, bob):
    client = await alogin(AsyncClient(), alice)
    page = (await client.get(local_session.get_absolute_url())).content.decode()
    assert "Pauses when idle: 30 min left without a run" in page

    url = reverse("session_extend", args=[local_session.pk])
    other = await alogin(AsyncClient(), bob)
    assert (await other.post(url, {"minutes": "120"})).status_code == 404
    await client.post(url, {"minutes": "120"})
    await local_session.arefresh_from_db()
    assert local_session.timeout_at > timezone.now() + timedelta(minutes=119)
    page = (await client.get(local_session.get_absolute_url())).content.decode()
    assert "Pauses when idle: 120 min left" in page
