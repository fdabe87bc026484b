"""Secrets at rest (MCP headers and settings, provider envs): sealed with a key derived from
SECRET_KEY, so neither the database, the admin, nor stored SDK state holds them in clear text."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

PREFIX = "sealed:"


def _fernet() -> Fernet:
    key = hashlib.sha256(f"sandbox-dashboard-secrets:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(value: Any) -> str:
    return PREFIX + _fernet().encrypt(json.dumps(value).encode()).decode()


def unseal(token: str) -> Any:
    if not isinstance(token, str) or not token.startswith(PREFIX):
        raise ValueError("not a sealed value")
    try:
        return json.loads(_fernet().decrypt(token[len(PREFIX) :].encode()))
    except InvalidToken as error:
        raise ValueError("sealed with another SECRET_KEY") from error


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


REDACTED = "[redacted]"
# Shorter values would redact ordinary words; no real key is this short.
MIN_SECRET_LENGTH = 8
PROCESS_SECRET_NAMES = ("OPENAI_API_KEY", "E2B_API_KEY", "DJANGO_SECRET_KEY")


def process_secret_values() -> set[str]:
    """The dashboard's own keys (from its environment and settings)."""
    values = {os.environ.get(name, "") for name in PROCESS_SECRET_NAMES}
    values.add(settings.SECRET_KEY)
    return {v for v in values if len(v) >= MIN_SECRET_LENGTH}


def redact(value: Any, secrets: set[str]) -> Any:
    """`value` (JSON-like) with every occurrence of each secret replaced by REDACTED."""
    secrets = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
    if not secrets:
        return value
    ordered = sorted(secrets, key=len, reverse=True)

    def clean(item: Any) -> Any:
        if isinstance(item, str):
            for secret in ordered:
                if secret in item:
                    item = item.replace(secret, REDACTED)
            return item
        if isinstance(item, list):
            return [clean(v) for v in item]
        if isinstance(item, dict):
            return {k: clean(v) for k, v in item.items()}
        return item

    return clean(value)


def redact_json(text: str, secrets: set[str]) -> str:
    """JSON text (from json.dumps) with every secret replaced by REDACTED: what `redact` does to
    the value, done on its serialisation at once (a secret is matched as JSON escapes it)."""
    for secret in sorted((s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH), key=len)[::-1]:
        escaped = json.dumps(secret)[1:-1]
        if escaped in text:
            text = text.replace(escaped, REDACTED)
    return text
