"""Secrets at rest (MCP headers and settings, provider envs): sealed with a key derived from
SECRET_KEY, so neither the database, the admin, nor stored SDK state holds them in clear text."""

from __future__ import annotations

import base64
import hashlib
import json
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
