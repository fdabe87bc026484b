"""Export a run (and a conversation) as JSON, import it as a read-only run, replay it."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from runs.event_log import render_event
from runs.export import RUN_FORMAT, THREAD_FORMAT
from runs.models import Run, RunEvent

from ..conftest import alogin, login
from ..helpers import answer_step, events_of, execute, execute_turn, shell_step, use_model

pytestmark = pytest.mark.django_db(transaction=True)


async def _download(client, url: str) -> bytes:
    response = await client.get(url)
    assert response.status_code == 200, response
    assert response.streaming, "the export is streamed"
    assert response["Content-Disposition"].startswith("attachment;")
    return b"".join([chunk async for chunk in response.streaming_content])


async def _scripted_run(session) -> Run:
    use_model("scripted", [shell_step("echo exported", "c1"), answer_step("Exported fine.")])
    return await execute(session, prompt="Export me", model="scripted")


async def test_the_export_has_config_prompt_events_usage_cost_and_timings(local_session, alice):
    run = await _scripted_run(local_session)
    client = await alogin(AsyncClient(), alice)
    document = json.loads(await _download(client, f"/runs/{run.pk}/export.json"))
    assert document["format"] == RUN_FORMAT
    exported = document["run"]
    assert exported["prompt"] == "Export me" and exported["final_output"] == "Exported fine."
    assert exported["config"]["model"] == "scripted" and exported["status"] == "succeeded"
    assert exported["usage"] == run.usage() and exported["cost"] is None
    assert exported["timings"]["duration_seconds"] == run.duration.total_seconds()
    events = await events_of(run)
    assert [(e["seq"], e["kind"], e["payload"]) for e in exported["events"]] == [
        (e.seq, e.kind, e.payload) for e in events
    ]
    tool_output = next(e for e in exported["events"] if e["kind"] == "tool_output")
    assert "started_at" in tool_output["payload"] and "ended_at" in tool_output["payload"]


async def test_export_then_import_gives_the_same_log_read_only(local_session, alice):
    run = await _scripted_run(local_session)
    client = await alogin(AsyncClient(), alice)
    data = await _download(client, f"/runs/{run.pk}/export.json")

    upload = _upload(data)
    response = await client.post("/runs/import/", {"file": upload, **await _once(client)})
    assert response.status_code == 302, response.content
    copy = await Run.objects.aget(pk=int(response["Location"].strip("/").split("/")[-1]))
    assert copy.imported and copy.session_id is None and copy.owner_id == alice.pk
    assert (copy.prompt, copy.final_output, copy.status) == (
        run.prompt,
        run.final_output,
        run.status,
    )
    assert copy.usage() == run.usage()
    original = [(e.seq, e.kind, e.payload, e.created_at) for e in await events_of(run)]
    imported = [(e.seq, e.kind, e.payload, e.created_at) for e in await events_of(copy)]
    assert imported == original
    page = (await client.get(copy.get_absolute_url())).content.decode()
    assert "Imported from an export file" in page and 'data-testid="timeline-bar"' in page
    assert "Start a preview" not in page
    # The copy exports to the same log again.
    again = json.loads(await _download(client, f"/runs/{copy.pk}/export.json"))
    first = json.loads(data)
    assert again["run"]["events"] == first["run"]["events"]


async def test_replay_gives_the_same_events_in_order_as_the_live_page(local_session, alice):
    run = await _scripted_run(local_session)
    client = await alogin(AsyncClient(), alice)
    replay = (await client.get(f"/runs/{run.pk}/replay.json")).json()["events"]
    events = await events_of(run)
    assert [e["seq"] for e in replay] == [e.seq for e in events]
    assert [e["html"] for e in replay] == [await sync_to_async(render_event)(e) for e in events]
    assert [e["at"] for e in replay] == sorted(e["at"] for e in replay)


async def test_a_conversation_exports_every_turn(thread, alice):
    use_model("scripted", [answer_step("First answer.")])
    await execute_turn(thread, "First question", model="scripted")
    use_model("scripted", [answer_step("Second answer.")])
    await execute_turn(thread, "Second question", model="scripted")
    client = await alogin(AsyncClient(), alice)
    document = json.loads(await _download(client, f"/threads/{thread.pk}/export.json"))
    assert document["format"] == THREAD_FORMAT
    assert [r["prompt"] for r in document["runs"]] == ["First question", "Second question"]
    assert [r["turn"] for r in document["runs"]] == [1, 2]
    response = await client.post(
        "/runs/import/", {"file": _upload(json.dumps(document).encode()), **await _once(client)}
    )
    assert response.status_code == 302
    assert await Run.objects.filter(imported=True, owner=alice).acount() == 2


async def test_another_user_cannot_export_or_replay(local_session, bob):
    run = await _scripted_run(local_session)
    client = await alogin(AsyncClient(), bob)
    assert (await client.get(f"/runs/{run.pk}/export.json")).status_code == 404
    assert (await client.get(f"/runs/{run.pk}/replay.json")).status_code == 404
    assert (await client.get(f"/threads/{run.thread_id or 0}/export.json")).status_code == 404


def _upload(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("run.json", data, content_type="application/json")


async def _once(client) -> dict:
    """The import form's once-per-form token, as the browser gets it."""
    import re

    page = (await client.get("/runs/import/")).content.decode()
    name, value = re.search(r'<input type="hidden" name="([^"]+)" value="([^"]+)">', page).groups()
    return {name: value}


BAD_FILES = [
    (b"\xff\xfe not text", "not text"),
    (b"{nope", "not valid JSON"),
    (b"[1, 2]", "not a run export"),
    (b'{"format": "something/else"}', "Unknown format"),
    (json.dumps({"format": RUN_FORMAT, "run": {"status": "succeeded"}}).encode(), "no prompt"),
    (
        json.dumps(
            {
                "format": RUN_FORMAT,
                "run": {
                    "prompt": "x",
                    "status": "succeeded",
                    "events": [
                        {"seq": 2, "kind": "note", "payload": {}, "at": "2026-01-01T00:00:00Z"},
                        {"seq": 1, "kind": "note", "payload": {}, "at": "2026-01-01T00:00:00Z"},
                    ],
                },
            }
        ).encode(),
        "seq must be a whole number above the previous one",
    ),
    (
        json.dumps(
            {"format": RUN_FORMAT, "run": {"prompt": "x", "status": "exploded", "events": []}}
        ).encode(),
        "unknown status",
    ),
]


@pytest.mark.parametrize("data, message", BAD_FILES)
def test_a_bad_file_gets_a_clear_error_and_stores_nothing(client, alice, data, message):
    import re

    login(client, alice)
    page = client.get("/runs/import/").content.decode()
    name, value = re.search(r'<input type="hidden" name="([^"]+)" value="([^"]+)">', page).groups()
    response = client.post("/runs/import/", {"file": _upload(data), name: value})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Run.objects.exists() and not RunEvent.objects.exists()
