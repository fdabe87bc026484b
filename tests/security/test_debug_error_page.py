"""DEBUG's error page (`make run` serves with DEBUG on) shows no secret: not a frame's local
variables, not a posted field, not a credential in a setting or a request header."""

from __future__ import annotations

import secrets

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import path

# Made at run time: the page quotes the source lines around the failing one.
PLANTED = {
    name: f"PLANTED-{name}-{secrets.token_hex(6)}" for name in ("key", "header", "pw", "bearer")
}


def failing_view(request):
    openai_api_key = PLANTED["key"]  # as a view that unsealed a secret before something failed
    headers = {"Authorization": request.POST.get("header_value", "")}
    raise RuntimeError(f"the MCP server refused {len(headers)} header(s) ({len(openai_api_key)})")
    return HttpResponse()


urlpatterns = [path("boom/", failing_view)]


@pytest.fixture
def debug_page(settings, alice):
    settings.DEBUG = True
    settings.ROOT_URLCONF = __name__
    settings.REDIS_URL = f"redis://:{PLANTED['pw']}@127.0.0.1:6379/0"
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    response = client.post(
        "/boom/",
        {"header_value": PLANTED["header"]},
        HTTP_AUTHORIZATION=f"Bearer {PLANTED['bearer']}",
    )
    return response.status_code, response.content.decode()


@pytest.mark.django_db
def test_the_debug_error_page_shows_the_traceback_but_no_secret(debug_page):
    status, page = debug_page
    assert status == 500
    assert "RuntimeError" in page and "failing_view" in page  # still a useful page
    assert "openai_api_key" in page and "header_value" in page  # names stay, values go
    for name, secret in PLANTED.items():
        assert secret not in page, name
