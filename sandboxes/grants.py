"""Who may see a preview: signed, short-lived grants that the preview proxy checks.

A grant names a preview and one claim: its owner (`u`, checked here) or another kind that a
higher app registers with `register_grant_rule` (comparisons registers `s`, a share link). The
rule is asked again on every request, so a revoked share shuts its viewers out at once.

A screenshot's grant (`x`: the owner and an expiry, sandboxes.screenshots) is made for the
dashboard's own headless browser and lasts SCREENSHOT_GRANT_SECONDS; it never reaches a person.

An owner's grant also names the login session it was made in (`k`, sealed): it opens the
preview only while that session lasts and its user is active, so logging out, an expired
session, a changed password or a deactivated account shut the preview out at once too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from importlib import import_module
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import aget_user, get_user_model
from django.core import signing

from lib.secrets import seal, unseal

from .models import Preview

GRANT_SALT = "sandboxes.preview.grant"
GRANT_MAX_AGE = 600
SCREENSHOT_GRANT_SECONDS = 120
ENTER_PATH = "/__preview__/enter"

GrantRule = Callable[[Any, Preview], Awaitable[bool]]
_rules: dict[str, GrantRule] = {}


def register_grant_rule(claim: str, rule: GrantRule) -> None:
    """`rule(value, preview)` says whether a grant with `claim: value` opens `preview`."""
    _rules[claim] = rule


def make_grant(preview: Preview, **claim: Any) -> str:
    return signing.dumps({"p": preview.pk, **claim}, salt=GRANT_SALT)


def grant_for_user(preview: Preview, user, session_key: str) -> str:
    """A grant for `user`, valid while the login session `session_key` lasts."""
    return make_grant(preview, u=user.pk, k=seal(session_key))


def grant_for_screenshot(preview: Preview) -> dict[str, Any]:
    """The (unsigned) grant the screenshot browser carries: the session's owner, for a short
    while. sandboxes.proxy signs it into the preview cookie."""
    expires = int(time.time()) + SCREENSHOT_GRANT_SECONDS
    return {"p": preview.pk, "x": {"u": preview.session.owner_id, "exp": expires}}


async def _screenshot_allows(claim: Any, preview: Preview) -> bool:
    if not isinstance(claim, dict) or claim.get("u") != preview.session.owner_id:
        return False
    if not isinstance(claim.get("exp"), int) or claim["exp"] < time.time():
        return False
    return await get_user_model().objects.filter(pk=claim["u"], is_active=True).aexists()


async def _session_user_id(sealed_key: Any) -> int | None:
    """The active user logged in by this (sealed) session key, if that session still lasts."""
    try:
        key = unseal(sealed_key)
    except ValueError:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
    # Django's own rule: the session exists and is unexpired, its auth hash matches the
    # user's (a password change ends it), and the backend still lets the user in (is_active).
    user = await aget_user(SimpleNamespace(session=store))
    return user.pk if user.is_authenticated else None


async def grant_allows(grant: dict[str, Any], preview_id: int) -> Preview | None:
    """The preview, if this grant still gives access to it."""
    if grant.get("p") != preview_id:
        return None
    preview = await Preview.objects.select_related("session").filter(pk=preview_id).afirst()
    if preview is None:
        return None
    if "u" in grant:
        if preview.session.owner_id != grant["u"]:
            return None
        return preview if await _session_user_id(grant.get("k")) == grant["u"] else None
    if "x" in grant:
        return preview if await _screenshot_allows(grant["x"], preview) else None
    for claim, rule in _rules.items():
        if claim in grant:
            return preview if await rule(grant[claim], preview) else None
    return None


def preview_origin(request, preview: Preview) -> str:
    """The preview's own origin, on the same scheme and port the dashboard was reached on."""
    host = request.get_host()
    port = ""
    if match := re.search(r":(\d+)$", host):
        port = f":{match[1]}"
    return f"{request.scheme}://p{preview.pk}.{settings.PREVIEW_DOMAIN}{port}"


def preview_entry_url(request, preview: Preview, grant: str) -> str:
    """The iframe's first URL. The grant rides in the fragment, which browsers never send, so
    no access log (daphne's, a proxy's) records it; the enter page posts it (sandboxes.proxy)."""
    return f"{preview_origin(request, preview)}{ENTER_PATH}#{urlencode({'grant': grant})}"
