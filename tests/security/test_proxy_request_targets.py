"""Item 1: the preview proxy never turns a request target into another upstream.

Raw sockets against the real proxy in a real daphne: a share-link holder (or anyone holding a
preview's cookie) sends request targets no browser would, aiming at an internal service (the
canary), at the dashboard itself, and at other hosts. Only origin-form targets (`/path`) pass;
they reach the preview's own dev server and nothing else.
"""

from __future__ import annotations

import pytest

from .conftest import enter_preview, frame_url, make_preview, raw_http


@pytest.fixture(scope="module")
def preview_cookie(dashboard, dev_server):
    preview_id = make_preview(dashboard, dev_server)
    alice = dashboard.login("alice")
    page = alice.get(f"/previews/{preview_id}/")
    assert page.status_code == 200, page.text
    return preview_id, enter_preview(dashboard, frame_url(page.text))


def request(target: str, host: str, cookie: str, method: str = "GET") -> bytes:
    return (
        f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


def test_an_origin_form_target_reaches_the_previews_own_dev_server(dashboard, preview_cookie):
    preview_id, cookie = preview_cookie
    status, body = raw_http(
        dashboard.port, request("/", dashboard.preview_host(preview_id), cookie)
    )
    assert status == 200, body[:500]
    assert b"the preview's own app" in body


@pytest.mark.parametrize(
    "target",
    [
        "@127.0.0.1:{canary}/ssrf",  # userinfo trick: the dev server's address becomes a user
        "@127.0.0.1:{canary}",
        "http://127.0.0.1:{canary}/ssrf",  # absolute-form
        "//127.0.0.1:{canary}/ssrf",  # network-path reference
        "127.0.0.1:{canary}",  # authority-form
        "*",
    ],
)
def test_a_target_that_is_not_a_path_is_refused_and_reaches_nobody(
    dashboard, preview_cookie, canary, target
):
    preview_id, cookie = preview_cookie
    target = target.format(canary=canary.port)

    status, body = raw_http(
        dashboard.port, request(target, dashboard.preview_host(preview_id), cookie)
    )

    assert canary.hits == [], f"{target!r} reached the internal service"
    assert b"CANARY" not in body
    if target.startswith("//"):
        # A path on the dev server (//host/x is a path there): the dev server answers 404.
        assert status == 404, body[:500]
    else:
        assert status == 400, body[:500]


def test_the_dashboard_itself_is_not_reachable_through_a_preview(dashboard, preview_cookie):
    preview_id, cookie = preview_cookie
    target = f"@127.0.0.1:{dashboard.port}/admin/login/"

    status, body = raw_http(
        dashboard.port, request(target, dashboard.preview_host(preview_id), cookie)
    )

    assert status == 400, body[:500]
    assert b"Django administration" not in body
    assert b"csrfmiddlewaretoken" not in body


@pytest.mark.parametrize("method", ["POST", "CONNECT"])
def test_authority_form_with_any_method_is_refused(dashboard, preview_cookie, canary, method):
    preview_id, cookie = preview_cookie
    target = f"127.0.0.1:{canary.port}"

    status, body = raw_http(
        dashboard.port, request(target, dashboard.preview_host(preview_id), cookie, method)
    )

    assert canary.hits == []
    assert status in (400, 405), body[:500]


def test_absolute_form_on_the_dashboards_own_host_is_refused(dashboard, canary):
    target = f"http://127.0.0.1:{canary.port}/ssrf"
    status, body = raw_http(dashboard.port, request(target, f"127.0.0.1:{dashboard.port}", "x=1"))
    assert canary.hits == []
    assert status == 400, body[:500]
