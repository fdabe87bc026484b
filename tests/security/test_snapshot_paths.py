"""Snapshot URLs cannot climb out of their snapshot.

A share's snapshot is served from the "snapshots" storage under its own prefix, next to other
shares' snapshots. Whatever a request path holds (`..`, encoded `%2e%2e` or `%2f`, backslashes,
NULs), it names a file of that snapshot or is refused: it never reaches a file beside it, of
another share, or anywhere on disk. The requests are sent as raw ASGI scopes, so no client
library normalises the path first.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import unquote

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from comparisons import snapshots
from comparisons.access import grant_for_share
from comparisons.models import Snapshot
from sandboxes.models import Preview
from sandboxes.static_sites import PathRefused, site_path

from ..fakes.proxy import cookie_for, preview_host
from ..fakes.snapshots import INDEX, share_of

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "another share's snapshot"
ATTACKS = [
    "/../secret.html",
    "/..%2fsecret.html",
    "/%2e%2e/secret.html",
    "/%2e%2e%2f%2e%2e%2fsecret.html",
    "/assets/../../secret.html",
    "/assets/..%2f..%2f..%2fsecret.html",
    "/..%5c..%5csecret.html",
    "/assets\\..\\..\\secret.html",
    "/%00/../secret.html",
    "/./../secret.html",
    "/....//secret.html/..",
    "/../../../../../../etc/hostname",
]


async def raw_get(app, host: str, raw_path: str, cookie: str) -> tuple[int, bytes]:
    """One GET with exactly this request target, decoded as daphne decodes it."""
    path = unquote(raw_path.split("?", 1)[0], errors="surrogateescape")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": raw_path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", host.encode()), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    messages = []
    received = asyncio.Event()

    async def receive():
        if received.is_set():
            await asyncio.sleep(3600)
        received.set()
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        messages.append(message)

    await app(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], body


@pytest.mark.parametrize("raw_path", ATTACKS)
async def test_a_path_that_climbs_out_of_the_snapshot_is_refused(
    app, shared_version, alice, queued, raw_path
):
    share = await share_of(shared_version, alice)
    await snapshots.snapshot_build(snapshot_id=queued[0])
    snapshot = await Snapshot.objects.aget(pk=queued[0])
    assert snapshot.has_site, snapshot.error
    # Beside it in the storage: what each attack aims at (one level up, two, three).
    storage = storages["snapshots"]
    prefix = snapshot.site_prefix
    for depth in range(1, 4):
        parent = "/".join(prefix.rstrip("/").split("/")[:-depth])
        name = f"{parent}/secret.html" if parent else "secret.html"
        await asyncio.to_thread(storage.save, name, ContentFile(SECRET.encode()))

    preview = await Preview.objects.aget(pk=shared_version.preview_id)
    cookie = await cookie_for(app, preview, grant_for_share(preview, share))
    await Preview.objects.filter(pk=preview.pk).aupdate(status=Preview.Status.STOPPED)
    await asyncio.sleep(2.1)  # the proxy's access cache

    status, body = await raw_get(app, preview_host(preview), "/", cookie)
    assert (status, body.decode()) == (200, INDEX)  # the snapshot itself is served

    status, body = await raw_get(app, preview_host(preview), raw_path, cookie)
    assert SECRET.encode() not in body
    hostname = Path("/etc/hostname").read_bytes().strip()
    assert not hostname or hostname not in body  # nothing of the disk either
    # Refused outright, or (a name that is no traversal once decoded) the app's index.
    assert status == 400 or (status == 200 and body.decode() == INDEX), (status, body[:200])


@pytest.mark.parametrize(
    "path",
    ["/../x", "/a/../../x", "/a/./b", "/a\\b", "/a\x00b", "..", "/.."],
)
def test_site_path_refuses_dot_segments_backslashes_and_nuls(path):
    with pytest.raises(PathRefused):
        site_path(path)


@pytest.mark.parametrize(
    ("path", "name"),
    [("/", ""), ("/index.html", "index.html"), ("/assets/a.js", "assets/a.js"), ("/a//b/", "a/b/")],
)
def test_site_path_names_files_inside_the_site(path, name):
    assert site_path(path) == name
