"""Which page a websocket comes from: its whole origin (scheme, host and port), not its host.

Browsers send cookies to a host whatever its port, so a page served by any local dev server
(`http://127.0.0.1:5173/evil.html`) carries the dashboard's session cookie for 127.0.0.1.
Channels' `AllowedHostsOriginValidator` compares the Origin's host only and lets it in; here the
Origin must be the very origin the socket was opened on (the scheme, Host header and port),
or one of `CSRF_TRUSTED_ORIGINS` (the public origin of a TLS proxy in front of daphne).
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

DEFAULT_PORTS = {"http": 80, "https": 443}


def scope_header(scope, name: bytes) -> str:
    """An ASGI request's header (lower-case `name`), or ""."""
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def _parts(origin: str) -> tuple[str, str, int] | None:
    try:
        parts: SplitResult = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def request_scheme(scope) -> str:
    """http or https: how the browser reached us (through SECURE_PROXY_SSL_HEADER if set)."""
    secure = scope.get("scheme") in ("https", "wss")
    if proxy_header := getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        name, value = proxy_header
        header = name.lower().removeprefix("http_").replace("_", "-").encode()
        forwarded = scope_header(scope, header).split(",")[0].strip()
        if forwarded:
            secure = forwarded == value
    return "https" if secure else "http"


def own_origin(scope) -> str:
    """The origin this request was made to: scheme, then the Host header as sent."""
    return f"{request_scheme(scope)}://{scope_header(scope, b'host')}"


def is_same_origin(scope) -> bool:
    """Whether the request's Origin header is the origin it was sent to."""
    origin = _parts(scope_header(scope, b"origin"))
    return origin is not None and origin == _parts(own_origin(scope))


def is_trusted_origin(origin: str) -> bool:
    """Whether `origin` is one of CSRF_TRUSTED_ORIGINS (`https://*.example.com` included)."""
    parts = _parts(origin)
    if parts is None:
        return False
    for pattern in settings.CSRF_TRUSTED_ORIGINS:
        if "*" not in pattern:
            if _parts(pattern) == parts:
                return True
            continue
        trusted = urlsplit(pattern.lower())
        netloc = trusted.netloc.replace("*", "", 1)  # *.example.com -> .example.com
        host = parts[1] if parts[2] == DEFAULT_PORTS[parts[0]] else f"{parts[1]}:{parts[2]}"
        if trusted.scheme == parts[0] and is_same_domain(host, netloc):
            return True
    return False


def dashboard_websocket_allowed(scope) -> bool:
    """A dashboard websocket: its Host is one we serve, and its Origin is that very origin
    or a trusted one."""
    domain, _port = split_domain_port(scope_header(scope, b"host"))
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    return is_same_origin(scope) or is_trusted_origin(scope_header(scope, b"origin"))


class OriginValidator:
    """ASGI middleware for the dashboard's websockets: the others are denied the handshake."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not dashboard_websocket_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
