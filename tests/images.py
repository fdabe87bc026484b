"""Reading PNGs in tests (no imaging library): the pixels of what a browser photographed."""

from __future__ import annotations

import struct
import zlib

from lib.images import PNG_SIGNATURE


def png_rows(data: bytes) -> list[bytes]:
    """The unfiltered rows of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    assert data.startswith(PNG_SIGNATURE), "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour = header[:4]
    assert depth == 8 and colour in (2, 6), f"unexpected PNG format {depth=} {colour=}"
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, previous = zlib.decompress(idat), width * bpp, [], bytes(width * bpp)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = previous[x], previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        previous = line
    return rows


def distinct_colours(data: bytes, *, step: int = 7) -> int:
    """How many different colours a sample of the image's pixels has (1: blank)."""
    rows = png_rows(data)
    bpp = len(rows[0]) // struct.unpack(">I", data[16:20])[0]
    seen = set()
    for row in rows[::step]:
        for x in range(0, len(row), bpp * step):
            seen.add(row[x : x + 3])
    return len(seen)


def make_png(width: int = 3, height: int = 2) -> bytes:
    """A real RGB PNG built by hand: a red left half, a blue right half."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    half = width // 2
    row = b"\x00" + b"\xe0\x30\x30" * half + b"\x30\x50\xe0" * (width - half)
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )
