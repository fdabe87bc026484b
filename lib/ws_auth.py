"""The user of a websocket, from the session cookie of its handshake.

Channels' AuthMiddlewareStack wraps `send` in its session middleware to save a changed session
on "http.response.start", a message no websocket sends: for a websocket the wrapper only costs,
on every message sent (it read the session's state each time: a tenth of what delivering a run
event to a viewer cost the server, bench/events.py). Here the session is read as there, and
`send` is left alone. A websocket never changes the session.
"""

from __future__ import annotations

from importlib import import_module

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware
from django.conf import settings


class SessionReader:
    """scope["session"]: the session of the handshake's cookie, loaded when first used."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope, receive, send):
        if "session" in scope:
            return await self.inner(scope, receive, send)
        key = scope["cookies"].get(settings.SESSION_COOKIE_NAME)
        return await self.inner(dict(scope, session=self.store(key)), receive, send)


def WebsocketAuthStack(inner):  # named as channels' AuthMiddlewareStack
    return CookieMiddleware(SessionReader(AuthMiddleware(inner)))
