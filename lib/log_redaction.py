"""Log lines fit to keep: URLs in them lose their credentials and query strings.

Libraries log the URLs they call (the MCP client logs every request through `httpx2` at INFO,
`?apiKey=…` included), and exceptions quote them. The console handler formats each record
through `RedactingFormatter`, so neither a message, its arguments nor a traceback can carry
`user:password@` or a query string into the log.
"""

from __future__ import annotations

import logging
import re

from .urls import public_url

# scheme://[userinfo@]host[:port][/path][?query][#fragment], up to whitespace or a quote.
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+", re.IGNORECASE)


def redact_urls(text: str) -> str:
    """`text` with every URL in it stripped of user:password@, query and fragment."""

    def redact(match: re.Match[str]) -> str:
        url = match[0]
        try:
            clean = public_url(url)
        except ValueError:  # not parseable as a URL (a bad port...): cut it by hand
            scheme, _, rest = url.partition("://")
            authority, slash, path = rest.partition("/")
            clean = f"{scheme}://{authority.rsplit('@', 1)[-1]}{slash}{path}"
            clean = clean.split("?", 1)[0].split("#", 1)[0]
        return clean + ("?…" if "?" in url or "#" in url else "")

    return URL.sub(redact, text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact_urls(super().format(record))
