"""Item 9: a production preset that `check --deploy` finds clean, and our own error pages.

`DJANGO_PRODUCTION=1` turns on HTTPS redirects, HSTS, secure cookies and trust in a TLS
proxy's X-Forwarded-Proto, each switchable on its own; without it `make run` stays plain HTTP
on 127.0.0.1. Run in subprocesses, since settings are read once at start-up.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from django.test import Client
from django.urls import reverse

from ..e2e.conftest import _manage

NAMES = [
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_PROXY_SSL_HEADER",
]
SHOW = f"""
import json
from django.conf import settings
print(json.dumps({{name: getattr(settings, name) for name in {NAMES!r}}}))
"""


def manage(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_"))}
    clean |= {
        "DASHBOARD_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **env,
    }
    return _manage(clean, *args, check=False)


def settings_of(tmp_path, **env: str) -> dict:
    result = manage(tmp_path, "shell", "-c", SHOW, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_with_the_production_preset(tmp_path):
    result = manage(
        tmp_path,
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_PRODUCTION="1",
        DJANGO_ALLOWED_HOSTS="dash.example.com",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://dash.example.com",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output, output


def test_the_preset_sets_each_switch_and_each_can_be_turned_off(tmp_path):
    on = settings_of(tmp_path, DJANGO_PRODUCTION="1")
    assert on == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }
    # daphne terminating TLS itself, a proxy that redirects by itself, a trial without HSTS:
    off = settings_of(
        tmp_path,
        DJANGO_PRODUCTION="1",
        DJANGO_PROXY_SSL_HEADER="0",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_HSTS_SECONDS="0",
    )
    assert off["SECURE_PROXY_SSL_HEADER"] is None
    assert off["SECURE_SSL_REDIRECT"] is False
    assert off["SECURE_HSTS_SECONDS"] == 0
    assert off["SESSION_COOKIE_SECURE"] is True


def test_without_the_preset_local_use_stays_plain_http(tmp_path):
    local = settings_of(tmp_path)
    assert local["DEBUG"] is True
    assert local["SECURE_SSL_REDIRECT"] is False
    assert local["SESSION_COOKIE_SECURE"] is False
    assert local["SECURE_PROXY_SSL_HEADER"] is None


# --- error pages with DEBUG off ------------------------------------------------------------------


SECRET = "internal detail 5b7e: /srv/secret/path"


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    return settings


def assert_our_page(response, status: int, heading: str) -> str:
    page = response.content.decode()
    assert response.status_code == status
    assert 'data-error-page="' in page, page[:400]
    assert heading in page
    for leak in ("Traceback", SECRET, "Django", "settings.py", "DEBUG = True"):
        assert leak not in page, leak
    return page


@pytest.mark.django_db
def test_a_crash_shows_our_500_page_without_a_traceback(production, client, alice, monkeypatch):
    from sandboxes import selectors

    def crash(*args, **kwargs):
        raise RuntimeError(SECRET)

    monkeypatch.setattr(selectors, "manifests_visible_to", crash)
    client.raise_request_exception = False
    client.force_login(alice)

    response = client.get(reverse("home"))

    assert_our_page(response, 500, "Something went wrong")


@pytest.mark.django_db
def test_not_found_forbidden_and_bad_request_are_our_pages(production, client, alice):
    client.force_login(alice)
    assert_our_page(client.get("/no/such/page/"), 404, "Not found")
    assert_our_page(client.get("/", headers={"host": "evil.example"}), 400, "Bad request")

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    response = strict.post(reverse("manifest_new"), {"name": "x"})
    assert_our_page(response, 403, "Refused")


@pytest.mark.django_db(transaction=True)
async def test_behind_a_tls_proxy_the_preview_cookie_is_secure(app, alice, upstream, settings):
    """daphne sees http behind the proxy; the browser's iframe is https on another site, where
    only a SameSite=None; Secure cookie is sent."""
    from ..fakes.proxy import client, make_preview, owner_grant, preview_host

    settings.PREVIEW_DOMAIN = "preview.example.com"
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    preview = await make_preview(alice, upstream.url)
    host = preview_host(preview).replace("preview.localhost:8000", "preview.example.com")
    async with client(app, host) as c:
        response = await c.post(
            "/__preview__/enter",
            data={"grant": await owner_grant(preview, alice)},
            headers={"x-forwarded-proto": "https"},
        )
    assert response.status_code == 303, response.text
    attributes = [a.strip() for a in response.headers["set-cookie"].split(";")]
    assert {"SameSite=None", "Secure", "Partitioned"} <= set(attributes)
