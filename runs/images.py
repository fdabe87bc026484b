"""Images that tools return (the SDK's `view_image`, an MCP tool's image content, a lane tool's
screenshot): taken out of the tool's output, stored as files (runs.models.RunImage), and shown
in the run's log as <img> served by URL to the run's owner. Events carry the image's id, never
its base64 (a screenshot is hundreds of kB; events go to every open tab and into exports).
"""

from __future__ import annotations

import secrets
from typing import Any

from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile

from lib.images import parse_data_url, sniff_type

from .models import RunImage

# Larger images are left out of the log (the model still got them).
IMAGE_LIMIT = 10 * 1024 * 1024
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/svg+xml": "svg",
    "image/bmp": "bmp",
}


def _field(part: Any, name: str) -> Any:
    if isinstance(part, dict):
        return part.get(name)
    return getattr(part, name, None)


def _is_image(part: Any) -> bool:
    return _field(part, "type") in ("image", "input_image") and bool(_field(part, "image_url"))


def images_in_output(output: Any) -> tuple[str, list[tuple[str, bytes]]] | None:
    """(the output's text, [(media type, bytes)...]) when a tool's output holds images as
    data URLs; None when it holds none (the output is shown as it is)."""
    parts = output if isinstance(output, list | tuple) else [output]
    if isinstance(output, str):
        decoded = parse_data_url(output.strip())
        return ("", [decoded]) if decoded else None
    if not any(_is_image(part) for part in parts):
        return None
    texts, images = [], []
    for part in parts:
        if _is_image(part):
            url = _field(part, "image_url")
            decoded = parse_data_url(url)
            if decoded is not None:
                images.append(decoded)
            else:
                texts.append(f"[image: {url[:200]}]")  # a remote URL: named, never fetched
        elif (text := _field(part, "text")) is not None:
            texts.append(str(text))
        elif isinstance(part, str):
            texts.append(part)
    return "\n".join(texts), images


def _store(run_id: int, media_type: str, data: bytes) -> dict[str, Any]:
    media_type = sniff_type(data) or media_type
    if len(data) > IMAGE_LIMIT:
        return {"omitted": f"{media_type}, {len(data) // 1024} kB: too large to show"}
    image = RunImage(run_id=run_id, media_type=media_type, size=len(data))
    extension = EXTENSIONS.get(media_type, "bin")
    image.image.save(f"r{run_id}-{secrets.token_hex(6)}.{extension}", ContentFile(data), save=True)
    return {"id": image.pk, "type": media_type, "bytes": len(data)}


async def images_store(*, run_id: int, images: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """Store a tool's images for a run; what its tool_output event says about each."""
    return [await sync_to_async(_store)(run_id, kind, data) for kind, data in images]
