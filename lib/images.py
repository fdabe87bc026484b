"""Small facts about image bytes, without an imaging library."""

from __future__ import annotations

import base64
import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SIGNATURES = {
    "image/png": (PNG_SIGNATURE,),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG; ValueError if `data` is not one."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("Not a PNG image.")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def sniff_type(data: bytes) -> str | None:
    """The image's media type from its first bytes (only the formats browsers show)."""
    for media_type, signatures in SIGNATURES.items():
        if any(data.startswith(signature) for signature in signatures):
            if media_type == "image/webp" and data[8:12] != b"WEBP":
                continue
            return media_type
    return None


def data_url(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def parse_data_url(url: str) -> tuple[str, bytes] | None:
    """(media type, bytes) of a base64 `data:image/...` URL; None for anything else."""
    if not url.startswith("data:image/") or ";base64," not in url:
        return None
    head, _, payload = url.partition(";base64,")
    try:
        return head.removeprefix("data:"), base64.b64decode(payload, validate=True)
    except ValueError:
        return None
