"""Static sites served on a preview's own origin when its sandbox no longer serves it.

A higher app (comparisons: a share link's snapshot of the preview) registers a *source* for a
grant claim with `register_static_source`; the preview proxy asks it, for a preview whose dev
server is not running, which stored site to show instead. This module serves that site from
its Django storage: files only, never anything executed; unknown paths fall back to
`index.html` (single-page apps route in the browser); paths that climb out are refused.
"""

from __future__ import annotations

import mimetypes
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from asgiref.sync import sync_to_async
from django.core.files.storage import storages

from lib.origins import scope_header

from .models import Preview

INDEX = "index.html"
# Vite (and most bundlers) put content-hashed files here: they never change under their name.
IMMUTABLE_DIRS = ("assets/",)
IMMUTABLE = b"private, max-age=31536000, immutable"
REVALIDATE = b"private, no-cache"
# What mimetypes may not know (or get wrong) on a bare system.
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".txt": "text/plain",
    ".ico": "image/x-icon",
}
TEXT_TYPES = ("text/", "application/json", "application/manifest+json", "image/svg+xml")


@dataclass(frozen=True)
class StaticSite:
    """A stored site: its files (path -> size) under `prefix` in the storage `storage`."""

    storage: str
    prefix: str
    files: Mapping[str, int]
    version: str  # changes whenever the files do (ETags)


StaticSource = Callable[[Any, Preview], Awaitable[StaticSite | None]]
_sources: dict[str, StaticSource] = {}


def register_static_source(claim: str, source: StaticSource) -> None:
    """`source(value, preview)`: the site a grant with `claim: value` sees for a preview that is
    not running, or None."""
    _sources[claim] = source


async def static_site_for(grant: dict[str, Any], preview: Preview) -> StaticSite | None:
    for claim, source in _sources.items():
        if claim in grant:
            return await source(grant[claim], preview)
    return None


class PathRefused(ValueError):
    pass


def site_path(path: str) -> str:
    """The site-relative file name a request path asks for ("" for the root).

    `path` is the ASGI scope's, already percent-decoded: `..`, `.`, backslashes and NULs in
    it are refused, whatever encoding brought them.
    """
    if not path.startswith("/") or "\x00" in path or "\\" in path:
        raise PathRefused(path)
    parts = [part for part in path.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise PathRefused(path)
    return "/".join(parts) + ("/" if path.endswith("/") and parts else "")


def resolve(site: StaticSite, name: str, accept: str) -> tuple[str, int] | None:
    """(file, status) to send for `name`: the file itself, a folder's index.html, or the
    site's index.html for a route the app handles in the browser; None: 404."""
    files = site.files
    if name and not name.endswith("/") and name in files:
        return name, 200
    folder_index = f"{name.rstrip('/')}/{INDEX}" if name else INDEX
    if folder_index in files:
        return folder_index, 200
    # A route (no file extension) or a page load: the app's own router decides. A missing
    # asset (/x.js) stays a 404 rather than HTML under a script's name.
    last = name.rstrip("/").rsplit("/", 1)[-1]
    if INDEX in files and ("." not in last or "text/html" in accept):
        return INDEX, 200
    return None


def content_type(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    kind = CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if kind.startswith(TEXT_TYPES) and "charset" not in kind:
        kind += "; charset=utf-8"
    return kind


def cache_control(name: str) -> bytes:
    return IMMUTABLE if name.startswith(IMMUTABLE_DIRS) else REVALIDATE


def _read(site: StaticSite, name: str) -> bytes:
    with storages[site.storage].open(site.prefix + name, "rb") as handle:
        return handle.read()


async def serve_static_site(site: StaticSite, scope, send) -> None:
    """Answer one HTTP request from the stored site."""
    method = scope["method"]
    if method not in ("GET", "HEAD"):
        await _respond(send, 405, b"", [(b"allow", b"GET, HEAD")])
        return
    try:
        name = site_path(scope["path"])
    except PathRefused:
        await _respond(send, 400, b"Bad path.", [(b"content-type", b"text/plain")])
        return
    found = resolve(site, name, scope_header(scope, b"accept"))
    if found is None:
        await _respond(send, 404, b"Not in this snapshot.", [(b"content-type", b"text/plain")])
        return
    name, status = found
    etag = f'"{site.version}-{zlib.crc32(name.encode()):08x}"'.encode()
    headers = [
        (b"content-type", content_type(name).encode()),
        (b"cache-control", cache_control(name)),
        (b"etag", etag),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]
    if scope_header(scope, b"if-none-match").encode() == etag:
        await _respond(send, 304, b"", headers)
        return
    body = await sync_to_async(_read, thread_sensitive=False)(site, name)
    await _respond(send, status, b"" if method == "HEAD" else body, headers, len(body))


async def _respond(send, status: int, body: bytes, headers, length: int | None = None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *headers,
                (b"content-length", str(len(body) if length is None else length).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
