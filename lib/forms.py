"""Parsing helpers for form fields: KEY=value and Name: value lines, port lists."""

from __future__ import annotations

from django import forms


def parse_pairs(text: str, separator: str, shape: str) -> dict[str, str]:
    """'KEY=value' (envs, metadata) or 'Name: value' (headers) lines; `shape` names the form
    in the error."""
    pairs = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, item = line.partition(separator)
        if not sep or not key.strip() or " " in key.strip():
            raise forms.ValidationError(f"Line {number} is not {shape}.")
        pairs[key.strip()] = item.strip()
    return pairs


def parse_env_lines(text: str) -> dict[str, str]:
    return parse_pairs(text, "=", "KEY=value")


def parse_header_lines(text: str) -> dict[str, str]:
    return parse_pairs(text, ":", "'Name: value'")


def parse_ports(value: str) -> list[int]:
    ports = []
    for part in value.replace(" ", "").split(","):
        if not part:
            continue
        if not part.isdecimal() or not 1 <= int(part) <= 65535:
            raise forms.ValidationError(f"{part!r} is not a port number (1-65535).")
        ports.append(int(part))
    return ports
