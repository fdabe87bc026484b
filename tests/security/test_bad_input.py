"""Item 6: bad input gets a clear error, and nothing else changes.

A zip whose member is damaged, encrypted or compressed in a way we cannot read; a NUL byte in
a console command; websocket messages a JSON parser accepts but no integer holds (Infinity,
1e400), or that nest too deep for it. Each is refused with words a person can act on, and
the thing keeps working (the manifest list, the console, the same websocket).
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import zipfile

import pytest
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from config.asgi import application
from runs.event_log import EventLog
from sandboxes.models import Manifest

from ..conftest import alogin, login
from ..runs.test_consumers import cookie_for

MEMBER = "src/main.py"
CONTENT = b"print('hello from the upload')\n" * 20


def _zip(compression: int = zipfile.ZIP_STORED) -> bytearray:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        archive.writestr(MEMBER, CONTENT)
        archive.writestr("README.md", b"fine\n")
    return bytearray(buffer.getvalue())


def _headers(data: bytearray) -> tuple[int, int]:
    """Offsets of the first member's local header and its central directory entry."""
    return data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")


def bad_crc() -> bytes:
    data = _zip()
    data[data.index(CONTENT) + 3] ^= 0xFF  # stored data no longer matches its CRC
    return bytes(data)


def encrypted() -> bytes:
    data = _zip()
    local, central = _headers(data)
    for offset in (local + 6, central + 8):  # general purpose flags: bit 0, encrypted
        (flags,) = struct.unpack_from("<H", data, offset)
        struct.pack_into("<H", data, offset, flags | 0x1)
    return bytes(data)


def unknown_compression() -> bytes:
    data = _zip()
    local, central = _headers(data)
    for offset in (local + 8, central + 10):  # compression method: 99 (AES), not ours
        struct.pack_into("<H", data, offset, 99)
    return bytes(data)


def damaged_deflate() -> bytes:
    data = _zip(zipfile.ZIP_DEFLATED)
    local, _ = _headers(data)
    name_len, extra_len = struct.unpack_from("<HH", data, local + 26)
    start = local + 30 + name_len + extra_len
    data[start : start + 8] = b"\xff" * 8
    return bytes(data)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("archive", "reason"),
    [
        (bad_crc, "damaged"),
        (encrypted, "encrypted"),
        (unknown_compression, "compression"),
        (damaged_deflate, "damaged"),
    ],
)
def test_a_corrupt_zip_is_refused_clearly_and_saves_nothing(client, alice, archive, reason):
    login(client, alice)
    upload = io.BytesIO(archive())
    upload.name = "starter.zip"

    response = client.post(reverse("manifest_new"), {"name": "Uploaded", "archive": upload})

    assert response.status_code == 400
    page = response.content.decode()
    assert MEMBER in page and reason in page, page
    assert not Manifest.objects.filter(name="Uploaded").exists()
    assert client.get(reverse("manifest_list")).status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_a_nul_byte_in_a_console_command_is_a_clear_error(async_client, alice, local_session):
    await alogin(async_client, alice)
    url = reverse("workspace_console", args=[local_session.pk])

    response = await asyncio.wait_for(async_client.post(url, {"command": "ls\x00 -la"}), 10)

    assert response.status_code == 400
    assert "NUL" in response.content.decode()
    # The console still works.
    response = await asyncio.wait_for(async_client.post(url, {"command": "echo ok"}), 10)
    text = b"".join([chunk async for chunk in response.streaming_content]).decode()
    assert text.startswith("ok\n"), text


# --- the run websocket ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "message",
    [
        '{"type": "resume", "after": Infinity}',
        '{"type": "resume", "after": -Infinity}',
        '{"type": "resume", "after": NaN}',
        '{"type": "resume", "after": 1e400}',
        '{"type": "resume", "after": 99999999999999999999999999999999}',
        '{"type": "resume", "after": "Infinity"}',
        '{"type": "resume", "after": true}',
        '{"type": "resume", "after": [1]}',
        "[" * 100_000 + "]" * 100_000,
        '{"type": "resume", "after": 0, "x": ' + "[" * 5000 + "]" * 5000 + "}",
        '"just a string"',
        "not json at all",
    ],
    ids=lambda m: m[:40],
)
async def test_a_malformed_message_gets_an_error_and_the_stream_keeps_working(run, alice, message):
    headers = [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"cookie", await cookie_for(alice)),
    ]
    communicator = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    try:
        await communicator.send_to(text_data=message)
        answer = json.loads(await communicator.receive_from(timeout=3))
        assert "resume" in answer["error"], answer

        # The same connection still resumes and streams.
        await communicator.send_to(text_data=json.dumps({"type": "resume", "after": 0}))
        events = json.loads(await communicator.receive_from(timeout=3))["events"]
        assert [e["seq"] for e in events] == [1]
        await EventLog(run).emit("note", {"text": "second"})
        live = json.loads(await communicator.receive_from(timeout=3))["events"]
        assert [e["seq"] for e in live] == [2]
    finally:
        await communicator.disconnect(timeout=5)
