"""E2B sessions: what the dashboard hands the SDK's E2BSandboxClient, with E2B out of reach.

Everything above the `e2b` package is real: the session form and view, `services`, the E2B
backend's client options, and the SDK's `E2BSandboxClient` with its session lifecycle. Below it,
nothing leaves the process (tests/fakes/e2b.py): `e2b_http` stands in for the network (on for
every test here), `e2b_cloud` for E2B's sandboxes.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import e2b
import httpx
import pytest
from django.urls import reverse
from django.utils.html import escape

from sandboxes import services
from sandboxes.backends import BackendUnavailable
from sandboxes.forms import SessionForm
from sandboxes.models import SandboxSession

from ..fakes.e2b import E2B_KEY, ROOT, FakeSandbox, form_data

pytestmark = pytest.mark.usefixtures("e2b_http")


async def post_session_form(async_client, user, manifest, data):
    await async_client.aforce_login(user)
    return await async_client.post(reverse("session_create", args=[manifest.pk]), data)


async def manifest_files(manifest) -> dict[str, bytes]:
    return {f"{ROOT}/{e.path}": e.content.encode() async for e in manifest.entries.all()}


# --- 1. Form options reach E2BSandboxClient.create -----------------------------------------------


def test_the_fake_create_has_e2b_s_signature():
    # The SDK drops keyword arguments that create() does not accept, so the fake must accept
    # exactly what the real e2b class accepts for the tests below to see what E2B would see.
    real = inspect.signature(e2b.AsyncSandbox.create).parameters
    fake = inspect.signature(FakeSandbox.create).parameters
    assert list(fake) == list(real)
    assert [p.kind for p in fake.values()] == [p.kind for p in real.values()]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("sandbox_type", "sandbox_class"), [("e2b", "e2b"), ("e2b_code_interpreter", "code")]
)
async def test_the_form_s_e2b_options_reach_e2b_create(
    async_client,
    alice,
    starter,
    e2b_key,
    e2b_cloud,
    e2b_http,
    enqueued,
    sandbox_type,
    sandbox_class,
):
    response = await post_session_form(
        async_client,
        alice,
        starter,
        form_data(
            sandbox_type=sandbox_type,
            template="vite-node-22",
            timeout="900",
            pause_on_exit="on",
            allow_internet_access=None,  # unchecked
            exposed_ports="4173, 8080",
        ),
    )

    session = await SandboxSession.objects.aget(owner=alice)
    assert response.status_code == 302
    assert response.url == session.get_absolute_url()
    assert enqueued == [(session.pk,)]
    assert (session.backend, session.status, session.name) == ("e2b", "creating", "cloud box")

    await services.session_start(session_id=session.pk)
    await session.arefresh_from_db()

    assert session.status == SandboxSession.Status.RUNNING, session.last_error
    assert session.last_error == ""
    [(used_class, received)] = e2b_cloud.creates
    assert used_class == sandbox_class
    assert received["template"] == "vite-node-22"
    assert received["timeout"] == 900
    assert received["allow_internet_access"] is False
    # E2B serves every port; exposing any makes the sandbox's URLs public.
    assert received["network"] == {"allow_public_traffic": True}
    assert received["lifecycle"] == {"on_timeout": "pause", "auto_resume": True}
    assert received["secure"] is True
    assert received["envs"] is None and received["metadata"] is None

    sandbox = e2b_cloud.only_sandbox()
    state = session.sdk_state
    assert state["type"] == "e2b"
    assert state["sandbox_id"] == sandbox.sandbox_id
    assert state["sandbox_type"] == sandbox_type
    assert state["template"] == "vite-node-22"
    assert state["sandbox_timeout"] == 900
    assert state["allow_internet_access"] is False
    assert state["pause_on_exit"] is True
    assert state["exposed_ports"] == [4173, 8080]
    assert state["manifest"]["root"] == ROOT
    assert state["workspace_root_ready"] is True
    # The starter's files were copied into the sandbox, and it is left running for runs.
    expected = await manifest_files(starter)
    assert {path: sandbox.files_on_disk.get(path) for path in expected} == expected
    assert sorted(sandbox.written) == sorted(expected)
    assert sandbox.status == "running"
    assert e2b_http.requests == []


@pytest.mark.django_db(transaction=True)
async def test_the_default_form_asks_e2b_for_its_defaults(
    async_client, alice, starter, e2b_key, e2b_cloud, e2b_http, enqueued
):
    response = await post_session_form(
        async_client, alice, starter, form_data(name="", exposed_ports="")
    )
    assert response.status_code == 302
    session = await SandboxSession.objects.aget(owner=alice)
    assert session.name == f"{starter.name} #1"

    await services.session_start(session_id=session.pk)
    await session.arefresh_from_db()

    assert session.status == SandboxSession.Status.RUNNING, session.last_error
    [(used_class, received)] = e2b_cloud.creates
    assert used_class == "e2b"
    assert received["template"] is None  # e2b picks its base template
    assert received["timeout"] is None  # e2b's default lifetime
    assert received["allow_internet_access"] is True
    assert received["network"] is None  # no exposed ports: sandbox URLs stay private
    assert session.sdk_state["pause_on_exit"] is False
    assert session.sdk_state["exposed_ports"] == []
    assert e2b_http.requests == []


@pytest.mark.django_db(transaction=True)
async def test_a_running_e2b_session_reattaches_to_the_same_sandbox_and_shutdown_kills_it(
    alice, starter, e2b_key, e2b_cloud, enqueued
):
    session = await SandboxSession.objects.acreate(
        owner=alice, manifest=starter, name="box", backend="e2b", options={"exposed_ports": []}
    )
    await services.session_start(session_id=session.pk)
    await session.arefresh_from_db()
    assert session.status == SandboxSession.Status.RUNNING, session.last_error
    sandbox = e2b_cloud.only_sandbox()
    entry = await starter.entries.afirst()

    async with services.sandbox_attached(session) as sdk_session:
        content = (await sdk_session.read(Path(entry.path))).read()

    assert content == entry.content.encode()
    assert e2b_cloud.connects == [sandbox.sandbox_id]
    assert len(e2b_cloud.creates) == 1  # no second sandbox
    await session.arefresh_from_db()
    assert session.sdk_state["sandbox_id"] == sandbox.sandbox_id

    await services.session_shutdown(session=session)
    await session.arefresh_from_db()

    assert session.status == SandboxSession.Status.STOPPED
    assert session.last_error == ""
    assert sandbox.status == "killed"


@pytest.mark.django_db(transaction=True)
async def test_pause_on_exit_pauses_between_runs_but_shutdown_kills(
    alice, starter, e2b_key, e2b_cloud, enqueued
):
    session = await SandboxSession.objects.acreate(
        owner=alice,
        manifest=starter,
        name="box",
        backend="e2b",
        options={"exposed_ports": [], "pause_on_exit": True},
    )
    await services.session_start(session_id=session.pk)
    await session.arefresh_from_db()
    sandbox = e2b_cloud.only_sandbox()
    assert session.sdk_state["pause_on_exit"] is True

    async with services.sandbox_attached(session):
        assert sandbox.status == "running"
    assert sandbox.status == "paused"  # between runs

    await services.session_shutdown(session=session)
    await session.arefresh_from_db()
    assert session.status == SandboxSession.Status.STOPPED
    assert sandbox.status == "killed"  # not left paused where nothing would resume it


@pytest.mark.django_db(transaction=True)
async def test_a_vanished_sandbox_is_reported_not_silently_replaced(
    alice, starter, e2b_key, e2b_cloud, enqueued
):
    session = await SandboxSession.objects.acreate(
        owner=alice, manifest=starter, name="box", backend="e2b", options={"exposed_ports": []}
    )
    await services.session_start(session_id=session.pk)
    await session.arefresh_from_db()
    lost = e2b_cloud.only_sandbox()
    await lost.kill()

    async with services.sandbox_attached(session):
        pass
    await session.arefresh_from_db()
    assert f"Sandbox {lost.sandbox_id} was gone" in session.last_error
    assert "earlier edits are not in it" in session.last_error


# --- 2. Without E2B_API_KEY ----------------------------------------------------------------------


@pytest.mark.django_db
def test_without_an_api_key_e2b_is_not_offered_and_cannot_be_created(
    client, alice, starter, monkeypatch, e2b_cloud, enqueued
):
    monkeypatch.delenv("E2B_API_KEY", raising=False)

    form = SessionForm()
    assert [choice for choice, _ in form.fields["backend"].choices] == ["local"]
    form = SessionForm(data=form_data())
    assert not form.is_valid()
    assert form.errors["backend"] == [
        "Select a valid choice. e2b is not one of the available choices."
    ]
    with pytest.raises(BackendUnavailable, match="E2B backend is not configured"):
        services.session_create(
            owner=alice, manifest=starter, backend_id="e2b", options={"exposed_ports": []}
        )

    client.force_login(alice)
    response = client.post(reverse("session_create", args=[starter.pk]), form_data())
    assert response.status_code == 400
    assert "e2b is not one of the available choices" in response.content.decode()

    assert not SandboxSession.objects.exists()
    assert enqueued == []
    assert e2b_cloud.creates == []


# --- 3. create() fails ---------------------------------------------------------------------------


async def create_and_start(owner, manifest, options) -> SandboxSession:
    session = await SandboxSession.objects.acreate(
        owner=owner, manifest=manifest, name="box", backend="e2b", options=options
    )
    await services.session_start(session_id=session.pk)
    await session.arefresh_from_db()
    return session


E2B_OPTIONS = {
    "exposed_ports": [4173],
    "sandbox_type": "e2b",
    "template": "vite-node-22",
    "timeout": 600,
    "pause_on_exit": False,
    "allow_internet_access": False,
}


@pytest.mark.django_db(transaction=True)
async def test_e2b_rejecting_the_api_key_fails_the_session(alice, starter, e2b_key, e2b_http):
    # The real e2b client, answered at the HTTP transport.
    e2b_http.handler = lambda request: httpx.Response(
        401, json={"code": 401, "message": "Invalid API key, please visit the dashboard"}
    )

    session = await create_and_start(alice, starter, E2B_OPTIONS)

    assert session.status == SandboxSession.Status.FAILED
    assert session.last_error == (
        "AuthenticationException: 401: Unauthorized, please check your credentials."
        " - Invalid API key, please visit the dashboard"
    )
    assert session.stopped_at is not None
    assert session.sdk_state is None
    # What went over the wire: one create request carrying the form's options.
    [request] = e2b_http.requests
    assert (request.method, request.url.path) == ("POST", "/sandboxes")
    assert request.url.host == "api.e2b.app"
    assert request.headers["X-API-KEY"] == E2B_KEY
    body = json.loads(request.content)
    assert body["templateID"] == "vite-node-22"
    assert body["timeout"] == 600
    assert body["allow_internet_access"] is False
    assert body["network"] == {"allowPublicTraffic": True}
    assert (body["autoPause"], body["autoResume"]) == (True, {"enabled": True})


@pytest.mark.django_db(transaction=True)
async def test_e2b_out_of_reach_fails_the_session(alice, starter, e2b_key, e2b_http):
    session = await create_and_start(alice, starter, E2B_OPTIONS)

    assert session.status == SandboxSession.Status.FAILED
    assert session.last_error.startswith("ConnectError: no route to host")
    assert len(e2b_http.requests) >= 1
    assert {r.url.host for r in e2b_http.requests} == {"api.e2b.app"}


@pytest.mark.django_db(transaction=True)
async def test_a_malformed_api_key_fails_the_session_without_calling_e2b(
    alice, starter, monkeypatch, e2b_http
):
    monkeypatch.setenv("E2B_API_KEY", "sk-not-an-e2b-key")

    session = await create_and_start(alice, starter, E2B_OPTIONS)

    assert session.status == SandboxSession.Status.FAILED
    assert session.last_error.startswith("AuthenticationException: Invalid API key format")
    assert e2b_http.requests == []


@pytest.mark.django_db(transaction=True)
async def test_a_create_error_from_the_sandbox_class_fails_the_session(
    alice, starter, e2b_key, e2b_cloud
):
    e2b_cloud.create_error = e2b.AuthenticationException("401: Unauthorized")

    session = await create_and_start(alice, starter, E2B_OPTIONS)

    assert session.status == SandboxSession.Status.FAILED
    assert session.last_error == "AuthenticationException: 401: Unauthorized"
    assert len(e2b_cloud.creates) == 1
    assert e2b_cloud.sandboxes == {}


@pytest.mark.django_db(transaction=True)
async def test_a_sandbox_that_fails_to_start_is_killed_not_left_running(
    alice, starter, e2b_key, e2b_cloud
):
    e2b_cloud.fail_writes = True

    session = await create_and_start(alice, starter, E2B_OPTIONS)

    assert session.status == SandboxSession.Status.FAILED
    assert "envd could not write the file" in session.last_error
    assert session.sdk_state is None
    assert e2b_cloud.only_sandbox().status == "killed"


# --- 4. Bad form input ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("exposed_ports", "abc", "'abc' is not a port number (1-65535)."),
        ("exposed_ports", "4173, 70000", "'70000' is not a port number (1-65535)."),
        ("exposed_ports", "0", "'0' is not a port number (1-65535)."),
        ("timeout", "29", "Ensure this value is greater than or equal to 30."),
        ("timeout", "86401", "Ensure this value is less than or equal to 86400."),
        ("timeout", "soon", "Enter a whole number."),
    ],
)
def test_bad_e2b_options_are_shown_as_form_errors(
    client, alice, starter, e2b_key, e2b_cloud, enqueued, field, value, message
):
    form = SessionForm(data=form_data(**{field: value}))
    assert not form.is_valid()
    assert form.errors == {field: [message]}

    client.force_login(alice)
    response = client.post(
        reverse("session_create", args=[starter.pk]), form_data(**{field: value})
    )

    assert response.status_code == 400
    assert escape(message) in response.content.decode()
    assert not SandboxSession.objects.exists()
    assert enqueued == []
    assert e2b_cloud.creates == []
