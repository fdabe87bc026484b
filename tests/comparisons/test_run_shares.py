"""Share a run or a conversation: read-only, expiring, revocable (the share link scheme of
comparisons), showing the log, timeline and result without a control or a secret."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from comparisons import shares
from comparisons.models import ShareLink
from runs.mcp import http_server_spec
from runs.models import Run, RunEvent, Thread

pytestmark = pytest.mark.django_db

HEADER_SECRET = "PLANTED-share-header-2b7f"


def open_share(client, share: ShareLink):
    return client.post(reverse("share_open"), {"token": shares.share_token(share)}, follow=True)


@pytest.fixture
def finished_run(alice, alice_session):
    spec = http_server_spec(
        name="docs", url="https://mcp.example.com/x?key=k-PLANTED-9", headers={"A": HEADER_SECRET}
    )
    thread = Thread.objects.create(owner=alice, session=alice_session)
    start = timezone.now() - timedelta(minutes=1)
    run = Run.objects.create(
        owner=alice,
        session=alice_session,
        thread=thread,
        turn=1,
        config={"name": "Builder", "model": "demo", "mcp_servers": [spec]},
        prompt="Make a page for a knitting club",
        final_output="Built the knitting club page.",
        status=Run.Status.SUCCEEDED,
        started_at=start,
        finished_at=start + timedelta(seconds=5),
        total_tokens=120,
    )
    events = [
        ("state", {"status": "running", "label": "Running", "usage": run.usage()}),
        ("mcp_tools", {"server": "docs", "url": spec["display_url"], "tools": ["search"]}),
        ("tool_call", {"call": "c1", "tool": "exec_command", "command": "ls"}),
        (
            "approval_requested",
            {
                "approval": 1,
                "call": "c1",
                "tool": "exec_command",
                "kind": "shell",
                "kind_label": "Shell command",
                "kind_plural": "shell commands",
                "command": "ls",
            },
        ),
        ("tool_output", {"call": "c1", "output": "src\n", "exit_code": 0}),
        ("state", run.state_payload()),
    ]
    for seq, (kind, payload) in enumerate(events, 1):
        RunEvent.objects.create(run=run, seq=seq, kind=kind, payload=payload)
    return run


def test_the_owner_shares_a_run_from_its_page(client, alice, finished_run):
    client.force_login(alice)
    page = client.get(finished_run.get_absolute_url()).content.decode()
    assert reverse("share_create", args=["run", finished_run.pk]) in page
    response = client.post(
        reverse("share_create", args=["run", finished_run.pk]), {"expiry": "24h"}
    )
    assert response.status_code == 302 and response.url == finished_run.get_absolute_url()
    share = ShareLink.objects.get()
    assert (share.run, share.owner) == (finished_run, alice)
    assert 'data-testid="share-url"' in client.get(finished_run.get_absolute_url()).content.decode()


def test_the_shared_run_shows_log_timeline_and_result_to_anyone(client, finished_run):
    share = shares.share_create(
        owner=finished_run.owner, run=finished_run, expires_in=timedelta(hours=1)
    )
    response = open_share(client, share)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Make a page for a knitting club" in page
    assert "Built the knitting club page." in page
    assert 'data-testid="timeline-bar"' in page and "$ ls" in page
    assert "ev-tool" in page  # the log's fragments, applied in the page
    for forbidden in (
        "<form",
        "\\u003Cform",  # a form inside the log's JSON
        "approval-form",
        "csrfmiddlewaretoken",
        'data-testid=\\"approve\\"',
        "data-testid=\\u0022approve",
        "Cancel</button>",
        "/runs/",
        "/sessions/",
        HEADER_SECRET,
        "k-PLANTED-9",
        finished_run.config["mcp_servers"][0]["url"],
        share.salt,
        "Replay",
        "Follow up",
    ):
        assert forbidden not in page, forbidden


def test_a_conversation_share_shows_the_turns_it_had(client, alice, finished_run):
    second = Run.objects.create(
        owner=alice,
        session=finished_run.session,
        thread=finished_run.thread,
        turn=2,
        config={"name": "Builder", "model": "demo"},
        prompt="Now add a schedule",
        status=Run.Status.SUCCEEDED,
    )
    client.force_login(alice)
    response = client.post(
        reverse("share_create", args=["thread", finished_run.thread_id]), {"expiry": "1h"}
    )
    assert response.status_code == 302 and response.url == second.get_absolute_url()
    share = ShareLink.objects.get()
    Run.objects.create(
        owner=alice,
        session=finished_run.session,
        thread=finished_run.thread,
        turn=3,
        config={},
        prompt="A later turn, not shared",
    )
    client.logout()
    page = open_share(client, share).content.decode()
    assert page.count('data-testid="shared-run"') == 2
    assert "Now add a schedule" in page and "A later turn, not shared" not in page


def test_revoked_and_expired_run_shares_show_nothing(client, alice, finished_run):
    revoked = shares.share_create(owner=alice, run=finished_run, expires_in=timedelta(hours=1))
    shares.share_revoke(share=revoked)
    expired = shares.share_create(owner=alice, run=finished_run, expires_in=timedelta(hours=1))
    ShareLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    for share in (revoked, expired):
        response = open_share(client, share)
        assert response.status_code == 404
        assert "knitting" not in response.content.decode()


def test_bob_cannot_share_alices_run_or_conversation(client, bob, finished_run):
    client.force_login(bob)
    for kind, pk in (("run", finished_run.pk), ("thread", finished_run.thread_id)):
        assert (
            client.post(reverse("share_create", args=[kind, pk]), {"expiry": "1h"}).status_code
            == 404
        )
    assert not ShareLink.objects.exists()
