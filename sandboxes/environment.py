"""The one environment policy for everything that runs in a local sandbox.

Agents' commands, preview dev servers and the workspace console all see this machine's
environment through the same allowlist: paths, locale, certificates, npm's and node's settings.
Nothing else passes, so the dashboard's keys (OPENAI_API_KEY, E2B_API_KEY, DJANGO_SECRET_KEY,
DATABASE_URL, a GITHUB_PAT...) never reach a sandbox, whatever their names.
"""

from __future__ import annotations

import os
from pathlib import Path

SANDBOX_ENVIRONMENT = frozenset(
    {
        "PATH",
        "LANG",
        "LC_ALL",
        "LC_COLLATE",
        "LC_CTYPE",
        "LC_MESSAGES",
        "LC_MONETARY",
        "LC_NUMERIC",
        "LC_TIME",
        "TZ",
        "TERM",
        "TMPDIR",
        "HOME",
        "USER",
        "SHELL",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        "NODE_OPTIONS",
        "UV_PYTHON",
        "NO_COLOR",
        "CI",
        "PYENV_ROOT",
        "PYENV_VERSION",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    }
)


def sandbox_environment_names() -> frozenset[str]:
    return SANDBOX_ENVIRONMENT | {name for name in os.environ if name.startswith("npm_config_")}


def sandbox_environment(**overrides: str) -> dict[str, str]:
    """This machine's environment as a local sandbox may see it, with `overrides` on top."""
    names = sandbox_environment_names()
    env = {name: value for name, value in os.environ.items() if name in names}
    env.update(overrides)
    return env


def console_environment(root: Path) -> dict[str, str]:
    """For a person's console commands in a workspace: the policy, plain output, no pager."""
    return sandbox_environment(
        HOME=str(root), NO_COLOR="1", TERM="dumb", PYTHONUNBUFFERED="1", CI="1"
    )
