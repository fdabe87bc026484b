"""The preview proxy, driven through the real ASGI application, with a real upstream server
(tests/fakes/proxy.py): who gets in, what passes through, and previews that are not serving."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from unittest import mock

import pytest
from django.core import signing

from sandboxes import grants, proxy
from sandboxes.models import Preview

from ..fakes.proxy import (
    DASHBOARD,
    client,
    enter,
    get,
    make_preview,
    owner_cookie,
    owner_grant,
    preview_host,
    ws_communicator,
)

pytestmark = pytest.mark.django_db(transaction=True)


# --- entering -------------------------------------------------------------------------------------


async def test_the_enter_url_sets_a_cookie_for_the_preview_host_and_redirects_home(
    app, preview, alice
):
    response = await enter(app, preview, await owner_grant(preview, alice))

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert response.headers["cache-control"] == "no-store"
    attributes = [a.strip() for a in response.headers["set-cookie"].split(";")]
    assert attributes[0].startswith("sd_preview=")
    assert {"Path=/", "HttpOnly", "SameSite=None", "Secure", "Partitioned"} <= set(attributes)


async def test_preview_entry_url_points_at_the_preview_origin(rf, preview, alice):
    request = rf.get("/comparisons/1/", HTTP_HOST=DASHBOARD)
    url = grants.preview_entry_url(request, preview, await owner_grant(preview, alice))
    # In the fragment, which browsers never send: no access log records it.
    assert url.startswith(f"http://{preview_host(preview)}/__preview__/enter#grant=")


async def test_the_enter_page_posts_the_fragment_and_a_grant_in_the_query_opens_nothing(
    app, preview, alice
):
    grant = await owner_grant(preview, alice)
    async with client(app, preview_host(preview)) as c:
        page = await c.get(grants.ENTER_PATH, params={"grant": grant})
    assert page.status_code == 200
    assert "set-cookie" not in page.headers
    assert 'method="post"' in page.text and "location.hash" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]


async def test_with_the_cookie_the_upstream_page_comes_back(app, preview, alice, upstream):
    cookie = await owner_cookie(app, preview, alice)

    response = await get(app, preview, "/page?x=1", cookie)

    assert response.status_code == 200
    assert response.json()["path"] == "/page?x=1"
    assert upstream.seen[-1]["host"] == f"localhost:{upstream.port}"


async def test_request_bodies_pass_through(app, preview, alice, upstream):
    cookie = await owner_cookie(app, preview, alice)
    async with client(app, preview_host(preview)) as c:
        response = await c.post(
            "/echo",
            content=b"hello upstream",
            headers={"cookie": cookie, "origin": f"http://{preview_host(preview)}"},
        )
    assert response.status_code == 200
    assert response.content == b"hello upstream"
    assert upstream.seen[-1]["origin"] == f"http://localhost:{upstream.port}"


async def test_our_cookie_is_not_forwarded_but_the_apps_own_cookies_are(
    app, preview, alice, upstream
):
    cookie = await owner_cookie(app, preview, alice)

    response = await get(app, preview, "/", f"theme=dark; {cookie}; cart=3")

    assert response.status_code == 200
    forwarded = upstream.seen[-1]["cookie"]
    assert "sd_preview" not in forwarded
    assert cookie.split("=", 1)[1] not in forwarded
    assert forwarded == "theme=dark; cart=3"


async def test_a_request_with_only_our_cookie_reaches_the_upstream_without_cookies(
    app, preview, alice, upstream
):
    cookie = await owner_cookie(app, preview, alice)
    assert (await get(app, preview, "/", cookie)).status_code == 200
    assert upstream.seen[-1]["cookie"] is None


async def test_the_dashboards_session_and_csrf_cookies_are_not_forwarded(
    app, preview, alice, upstream, settings
):
    cookie = await owner_cookie(app, preview, alice)
    sent = f"{settings.SESSION_COOKIE_NAME}=secret-session; {settings.CSRF_COOKIE_NAME}=tok"

    response = await get(app, preview, "/", f"{sent}; {cookie}; theme=dark")

    assert response.status_code == 200
    assert upstream.seen[-1]["cookie"] == "theme=dark"


async def test_an_app_cookie_with_a_json_value_does_not_lock_the_viewer_out(
    app, preview, alice, upstream
):
    cookie = await owner_cookie(app, preview, alice)

    response = await get(app, preview, "/", f'consent={{"analytics":false}}; {cookie}')

    assert response.status_code == 200
    assert upstream.seen[-1]["cookie"] == 'consent={"analytics":false}'


async def test_preview_responses_carry_no_x_frame_options_unlike_the_dashboard(app, preview, alice):
    cookie = await owner_cookie(app, preview, alice)

    proxied = await get(app, preview, "/", cookie)
    async with client(app, DASHBOARD) as c:
        dashboard = await c.get("/login/")

    assert proxied.status_code == 200
    assert "x-frame-options" not in proxied.headers  # the upstream sent DENY
    assert dashboard.status_code == 200
    assert dashboard.headers["x-frame-options"] == "DENY"


async def test_the_dashboard_host_is_not_proxied(app, preview, upstream):
    async with client(app, DASHBOARD) as c:
        response = await c.get("/")
    assert response.status_code == 302 and "/login/" in response.headers["location"]
    assert upstream.seen == []


# --- websockets -----------------------------------------------------------------------------------


async def test_websocket_messages_pass_both_ways_with_the_subprotocol(
    app, preview, alice, upstream
):
    cookie = await owner_cookie(app, preview, alice)
    communicator = ws_communicator(app, preview, cookie, subprotocols=["vite-hmr"])

    connected, subprotocol = await communicator.connect(timeout=5)
    try:
        assert connected
        assert subprotocol == "vite-hmr"
        hello = json.loads(await communicator.receive_from(timeout=5))
        assert hello["host"] == f"localhost:{upstream.port}"
        assert hello["origin"] == f"http://localhost:{upstream.port}"
        assert hello["protocol"] == "vite-hmr"
        assert hello["cookie"] is None
        await communicator.send_to(text_data="ping")
        assert await communicator.receive_from(timeout=5) == "echo:ping"
        await communicator.send_to(bytes_data=b"\x00\x01")
        assert await communicator.receive_from(timeout=5) == b"echo:\x00\x01"
    finally:
        await communicator.disconnect(timeout=5)


def socket_pumps() -> list[asyncio.Task]:
    """The tasks moving messages of proxied sockets that are still alive."""
    return [
        task
        for task in asyncio.all_tasks()
        if task.get_coro().__qualname__.endswith(("_to_upstream_loop", "_to_client_loop"))
    ]


async def test_sockets_that_end_on_either_side_leave_nothing_running_or_unretrieved(
    app, preview, alice, upstream, caplog
):
    """No "Task exception was never retrieved" tracebacks in the server log when an HMR
    socket closes (the dev server restarts, the viewer leaves, access ends), and no pump left
    running: each socket's two pumps end with it and their outcome is collected."""
    loop = asyncio.get_running_loop()
    unretrieved = []
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context["message"]))
    cookie = await owner_cookie(app, preview, alice)
    try:
        for ending in ("upstream", "client", "access"):
            communicator = ws_communicator(app, preview, cookie, subprotocols=["vite-hmr"])
            assert (await communicator.connect(timeout=5))[0]
            await communicator.receive_from(timeout=5)  # the hello
            assert len(socket_pumps()) == 2
            if ending == "upstream":
                await communicator.send_to(text_data="bye")  # the dev server closes it
                assert (await communicator.receive_output(timeout=5))["type"] == "websocket.close"
            elif ending == "client":
                await communicator.disconnect(timeout=5)
            else:
                await Preview.objects.filter(pk=preview.pk).aupdate(status=Preview.Status.STOPPED)
                await communicator.wait(timeout=proxy.ACCESS_CACHE_SECONDS * 3)
                await Preview.objects.filter(pk=preview.pk).aupdate(status=Preview.Status.READY)
            await communicator.wait(timeout=5)
            await asyncio.sleep(0.05)
            assert socket_pumps() == [], ending
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert unretrieved == []
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith("asgiproxy")]


async def test_a_websocket_without_access_is_closed_with_4403(app, preview, upstream):
    communicator = ws_communicator(app, preview, cookie=None)
    await communicator.connect(timeout=5)
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": proxy.CLOSE_REFUSED}
    assert upstream.seen == []


# --- who gets in ----------------------------------------------------------------------------------


async def test_no_cookie_is_refused(app, preview, upstream):
    response = await get(app, preview, "/")
    assert response.status_code == 403
    assert "Preview not available" in response.text
    assert upstream.seen == []


async def test_bobs_grant_for_alices_preview_is_refused(app, preview, bob):
    response = await enter(app, preview, await owner_grant(preview, bob))
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


async def test_a_tampered_grant_is_refused(app, preview, alice, bob):
    grant = await owner_grant(preview, alice)
    data, _, signature = grant.rpartition(":")
    forged_data = signing.dumps({"p": preview.pk, "u": bob.pk}, salt=grants.GRANT_SALT)
    for tampered in (
        f"{data}:{signature[::-1]}",
        f"{forged_data.split(':')[0]}:{grant.split(':', 1)[1]}",
        "",
        "garbage",
    ):
        response = await enter(app, preview, tampered)
        assert response.status_code == 403, tampered
        assert "set-cookie" not in response.headers


async def test_an_expired_grant_is_refused(app, preview, alice):
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 601):
        grant = await owner_grant(preview, alice)
    response = await enter(app, preview, grant)
    assert response.status_code == 403


async def test_a_grant_is_only_good_for_its_own_preview(app, preview, alice, upstream):
    other = await make_preview(alice, upstream.url)
    grant = await owner_grant(preview, alice)
    assert (await enter(app, other, grant)).status_code == 403


async def test_a_grant_signed_with_the_cookie_salt_is_refused(app, preview, alice):
    wrong_salt = signing.dumps({"p": preview.pk, "u": alice.pk}, salt=proxy.COOKIE_SALT)
    assert (await enter(app, preview, wrong_salt)).status_code == 403


async def test_an_unknown_preview_id_is_refused(app, preview, alice):
    ghost = Preview(pk=preview.pk + 1000)
    grant = signing.dumps({"p": ghost.pk, "u": alice.pk}, salt=grants.GRANT_SALT)
    assert (await enter(app, ghost, grant)).status_code == 403
    cookie = signing.dumps({"p": ghost.pk, "u": alice.pk}, salt=proxy.COOKIE_SALT)
    assert (await get(app, ghost, "/", f"sd_preview={cookie}")).status_code == 403


async def test_a_cookie_for_one_preview_does_not_open_another(app, preview, alice, upstream):
    other = await make_preview(alice, upstream.url)
    cookie = await owner_cookie(app, preview, alice)

    assert (await get(app, preview, "/", cookie)).status_code == 200
    refused = await get(app, other, "/", cookie)

    assert refused.status_code == 403
    assert len(upstream.seen) == 1


async def test_a_forged_cookie_is_refused(app, preview, alice):
    cookie = await owner_cookie(app, preview, alice)
    assert (await get(app, preview, "/", cookie[:-2] + "xx")).status_code == 403
    # A grant is not a cookie: the salts differ.
    grant = await owner_grant(preview, alice)
    assert (await get(app, preview, "/", f"sd_preview={grant}")).status_code == 403


# --- previews that are not serving ----------------------------------------------------------------


async def test_a_starting_preview_answers_503_starting(app, alice, upstream):
    preview = await make_preview(alice, "", status=Preview.Status.STARTING)
    cookie = await owner_cookie(app, preview, alice)

    response = await get(app, preview, "/", cookie)

    assert response.status_code == 503
    assert "Starting" in response.text
    assert 'http-equiv="refresh"' in response.text


@pytest.mark.parametrize("status", [Preview.Status.STOPPED, Preview.Status.FAILED])
async def test_a_preview_that_is_not_running_answers_503_offline(app, alice, upstream, status):
    preview = await make_preview(alice, upstream.url, status=status)
    cookie = await owner_cookie(app, preview, alice)

    response = await get(app, preview, "/", cookie)

    assert response.status_code == 503
    assert "Preview offline" in response.text
    assert upstream.seen == []


async def test_an_upstream_that_is_down_answers_502(app, alice):
    from sandboxes.previews import free_host_port

    preview = await make_preview(alice, f"http://127.0.0.1:{free_host_port()}/")
    cookie = await owner_cookie(app, preview, alice)

    response = await get(app, preview, "/", cookie)

    assert response.status_code == 502
    assert "Preview offline" in response.text
    # Nothing runs there (no process group either): the preview is marked failed, and the
    # next request is told so at once.
    await preview.arefresh_from_db()
    assert preview.status == Preview.Status.FAILED
    assert "exited after it was ready" in preview.error
    again = await get(app, preview, "/", cookie)
    assert again.status_code == 503 and "(failed)" in again.text


async def test_a_websocket_to_an_upstream_that_is_down_does_not_crash(app, alice):
    from sandboxes.previews import free_host_port

    preview = await make_preview(alice, f"http://127.0.0.1:{free_host_port()}/")
    cookie = await owner_cookie(app, preview, alice)
    communicator = ws_communicator(app, preview, cookie)

    await communicator.send_input({"type": "websocket.connect"})
    await communicator.wait(timeout=5)  # the app returns without accepting: the server closes
