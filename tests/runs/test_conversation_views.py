"""The pages of conversations and approvals: what alice sees and does, what bob never reaches."""

import json

import pytest
from django.test import AsyncClient
from django.urls import reverse

from runs.models import Approval, Run, Thread

from ..conftest import alogin
from ..helpers import answer_step, execute_turn, shell_step, until_ended, use_model
from .test_consumers import connect, cookie_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def alice_client(alice) -> AsyncClient:
    return await alogin(AsyncClient(), alice)


@pytest.fixture
async def bob_client(bob) -> AsyncClient:
    return await alogin(AsyncClient(), bob)


async def two_turns(thread) -> list[Run]:
    use_model("scripted", [answer_step("First answer.")])
    first = await execute_turn(thread, "Build the page", model="scripted")
    use_model("scripted", [shell_step("echo hi", "c-1"), answer_step("Second answer.")])
    second = await execute_turn(thread, "Make the header blue", model="scripted")
    return [first, second]


async def test_the_session_page_reads_as_a_conversation(alice_client, thread, local_session):
    first, second = await two_turns(thread)
    page = (await alice_client.get(local_session.get_absolute_url())).content.decode()

    assert page.index("Build the page") < page.index("Make the header blue")
    assert page.count('data-testid="turn"') == 2
    assert "First answer." in page and "Second answer." in page
    total = first.total_tokens + second.total_tokens
    assert f"Whole conversation: <strong>{total}</strong> tokens" in page
    assert 'id="follow-up-form"' in page  # the box for turn 3
    assert 'id="run-form"' not in page
    assert page.count('data-run-stream="lazy"') == 1  # the older turn streams when opened
    assert f'data-ws-path="/ws/runs/{second.pk}/"' in page
    assert 'data-testid="new-conversation"' in page


async def test_a_follow_up_continues_the_conversation_in_place(
    alice_client, thread, local_session, tasks_here
):
    _, second = await two_turns(thread)
    # Turn 3 really runs (here, on this loop) and stops at its first shell call for approval.
    use_model("scripted", [shell_step("echo three", "c-3"), answer_step("Third answer.")])
    response = await alice_client.post(
        reverse("run_create", args=[local_session.pk]),
        {"follow_up": "1", "thread": thread.pk, "prompt": "Now add pricing", "approvals": "shell"},
        headers={"HX-Request": "true", "HX-Target": "conversation"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="conversation" id="conversation"')
    assert "Now add pricing" in html and html.count('data-testid="turn"') == 3
    third = await Run.objects.aget(prompt="Now add pricing")
    assert (third.thread_id, third.turn) == (thread.pk, 3)
    assert third.config == {**second.config, "approvals": ["shell"]}  # the same agent
    third = await until_ended(third)
    assert third.status == Run.Status.AWAITING_APPROVAL
    # While it waits the next follow-up is refused, clearly, and nothing is lost.
    response = await alice_client.post(
        reverse("run_create", args=[local_session.pk]),
        {"follow_up": "1", "thread": thread.pk, "prompt": "And a footer"},
        headers={"HX-Request": "true", "HX-Target": "conversation"},
    )
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#conversation"  # the conversation, not the page
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="conversation" id="conversation"')
    assert f"Run #{third.pk} on this sandbox is awaiting approval" in html
    assert "And a footer" in html  # what was typed is kept
    assert await Run.objects.filter(thread=thread).acount() == 3


async def test_a_new_conversation_starts_empty_on_the_same_session(
    alice_client, thread, local_session
):
    await two_turns(thread)
    response = await alice_client.post(reverse("thread_create", args=[local_session.pk]))
    fresh = await Thread.objects.select_related("session").filter(session=local_session).afirst()
    assert fresh.pk != thread.pk
    assert response.url == fresh.get_absolute_url()
    page = (await alice_client.get(response.url)).content.decode()
    assert 'id="run-form"' in page and 'data-testid="turn"' not in page
    assert f'name="thread" value="{fresh.pk}"' in page
    # The picker names each conversation by its first request.
    assert "Conversations (2)" in page
    assert 'Build the page</a> <span class="muted small">2 turns' in page
    # The old conversation is one click away.
    old = await alice_client.get(f"{local_session.get_absolute_url()}?thread={thread.pk}")
    old = old.content.decode()
    assert old.count('data-testid="turn"') == 2


async def test_bob_reaches_no_conversation_of_alice(
    bob_client, alice_client, thread, local_session
):
    await two_turns(thread)
    url = f"{local_session.get_absolute_url()}?thread={thread.pk}"
    assert (await bob_client.get(url)).status_code == 404
    for url, data in [
        (reverse("thread_create", args=[local_session.pk]), {}),
        (
            reverse("run_create", args=[local_session.pk]),
            {"follow_up": "1", "thread": thread.pk, "prompt": "steal"},
        ),
    ]:
        assert (await bob_client.post(url, data)).status_code == 404
    assert not await Run.objects.filter(prompt="steal").aexists()
    assert await Thread.objects.acount() == 1
    # alice cannot aim a turn at a conversation of another session either.
    response = await alice_client.get(f"{local_session.get_absolute_url()}?thread=99999")
    assert response.status_code == 404


@pytest.fixture
async def paused(thread):
    use_model("scripted", [shell_step("echo ok > ok.txt", "call-1"), answer_step("Done.")])
    run = await execute_turn(thread, "Write ok", model="scripted", approvals=("shell",))
    assert run.status == Run.Status.AWAITING_APPROVAL
    return run, await Approval.objects.aget(run=run)


async def test_the_owner_approves_from_the_page(alice_client, paused, tasks_here):
    run, approval = paused
    page = (await alice_client.get(run.get_absolute_url())).content.decode()
    assert "Awaiting approval" in page
    url = reverse("approval_decide", args=[run.pk, approval.pk])
    response = await alice_client.post(url, {"decision": "approve"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>Approved</strong> by alice" in html and "hx-swap-oob" not in html
    run = await until_ended(run)
    assert run.status == Run.Status.SUCCEEDED, run.error
    # A second click (a double submit, another tab) is told, and changes nothing.
    response = await alice_client.post(url, {"decision": "reject"}, headers={"HX-Request": "true"})
    assert "nothing to decide" in response.content.decode()
    await approval.arefresh_from_db()
    assert approval.decision == Approval.Decision.APPROVED


async def test_a_bad_decision_keeps_the_buttons(alice_client, paused):
    run, approval = paused
    response = await alice_client.post(
        reverse("approval_decide", args=[run.pk, approval.pk]),
        {"decision": "maybe"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert "Choose approve" in html and 'data-testid="approve"' in html
    await approval.arefresh_from_db()
    assert approval.decision == Approval.Decision.PENDING


async def test_bob_cannot_approve_or_watch(bob_client, bob, paused):
    run, approval = paused
    url = reverse("approval_decide", args=[run.pk, approval.pk])
    assert (await bob_client.post(url, {"decision": "approve"})).status_code == 404
    assert (await bob_client.post(reverse("run_cancel", args=[run.pk]))).status_code == 404
    await approval.arefresh_from_db()
    await run.arefresh_from_db()
    assert approval.decision == Approval.Decision.PENDING
    assert run.status == Run.Status.AWAITING_APPROVAL
    communicator, _ = await connect(run.pk, await cookie_for(bob))
    message = await communicator.receive_output(timeout=2)
    assert message == {"type": "websocket.close", "code": 4403}


async def test_a_decision_reaches_every_open_page_live(alice_client, alice, paused, tasks_here):
    run, approval = paused
    cookie = await cookie_for(alice)
    tabs = []
    for _ in range(2):
        tab, connected = await connect(run.pk, cookie)
        assert connected
        await tab.send_to(text_data=json.dumps({"type": "resume", "after": 0}))
        tabs.append(tab)
    for tab in tabs:  # both see the pending call with its buttons
        html = "".join(e["html"] for e in json.loads(await tab.receive_from(timeout=3))["events"])
        assert 'data-testid="approval"' in html and "echo ok &gt; ok.txt" in html

    # The decision is taken in a third place (an HTTP request); both tabs hear it.
    await alice_client.post(
        reverse("approval_decide", args=[run.pk, approval.pk]),
        {"decision": "reject", "reason": "not now"},
        headers={"HX-Request": "true"},
    )
    for tab in tabs:
        heard = ""
        while "approval-decision" not in heard:
            message = json.loads(await tab.receive_from(timeout=3))
            heard += "".join(e["html"] for e in message["events"])
        assert "<strong>Rejected</strong> by alice: “not now”" in heard
    await until_ended(run)
    for tab in tabs:
        await tab.disconnect()


async def test_the_run_page_offers_a_follow_up_and_links(
    alice_client, thread, local_session, tasks_here
):
    first, second = await two_turns(thread)
    page = (await alice_client.get(second.get_absolute_url())).content.decode()
    assert 'data-testid="run-follow-up"' in page and 'name="from" value="run"' in page
    assert "Turn 2 of 2" in page
    assert reverse("workspace_tree", args=[local_session.pk]) in page
    assert "Start a preview" in page  # no preview yet: the way to one
    older = (await alice_client.get(first.get_absolute_url())).content.decode()
    assert "This conversation went on after this turn" in older
    use_model("scripted", [answer_step("Third.")])
    response = await alice_client.post(
        reverse("run_create", args=[local_session.pk]),
        {"follow_up": "1", "thread": thread.pk, "prompt": "Turn three", "from": "run"},
    )
    third = await Run.objects.aget(prompt="Turn three")
    conversation = f"{local_session.get_absolute_url()}?thread={thread.pk}"
    assert response.url == f"{conversation}#turn-{third.pk}"
    assert (await until_ended(third)).status == Run.Status.SUCCEEDED
