"""The admin of runs: threads and paused runs open, and never show what is sealed."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import AsyncClient
from django.urls import reverse

from runs.models import Run, Thread

from ..helpers import answer_step, execute_turn, shell_step, use_model

pytestmark = pytest.mark.django_db(transaction=True)


async def test_threads_and_paused_runs_open_without_their_sealed_state(local_session):
    thread = await Thread.objects.acreate(owner_id=local_session.owner_id, session=local_session)
    use_model("scripted", [answer_step("A finished turn: the thread has a sealed history.")])
    await execute_turn(thread, "First", model="scripted")
    await thread.arefresh_from_db()
    assert thread.history.startswith("sealed:")
    use_model("scripted", [shell_step("echo admin-sees-this-not", "call-1")])
    run = await execute_turn(thread, "Pause", model="scripted", approvals=("shell",))
    assert run.status == Run.Status.AWAITING_APPROVAL
    admin = await sync_to_async(get_user_model().objects.create_superuser)(
        "root", "root@example.com", "pw"
    )
    client = AsyncClient()
    await sync_to_async(client.force_login)(admin)

    page = await client.get(reverse("admin:runs_run_change", args=[run.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "sealed:" not in html and 'name="paused_state"' not in html
    assert "echo admin-sees-this-not" in html  # the pending call itself is shown
    page = await client.get(reverse("admin:runs_thread_change", args=[thread.pk]))
    assert page.status_code == 200 and "sealed:" not in page.content.decode()
