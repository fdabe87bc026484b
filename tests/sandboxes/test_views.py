"""Pages of sandboxes: login everywhere, ownership (bob never sees alice's things), forms with
clear errors."""

import pytest
from django.urls import reverse

from sandboxes.models import Manifest, SandboxSession

from ..conftest import PASSWORD, login


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["home", "manifest_list", "session_list"])
def test_pages_require_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.django_db
def test_the_login_page_works(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


@pytest.mark.django_db
def test_home_lists_starters_and_only_my_sandboxes(client, bob, alice_session):
    SandboxSession.objects.create(owner=bob, manifest=alice_session.manifest, name="bob sandbox")
    page = login(client, bob).get(reverse("home")).content.decode()
    assert "Vite + React starter" in page
    assert "bob sandbox" in page
    assert "alice sandbox" not in page
    assert "offline demo" in page


@pytest.mark.django_db
def test_builtin_starters_are_shared_but_own_manifests_are_private(client, alice, bob, starter):
    private = Manifest.objects.create(name="alice private", owner=alice)
    login(client, bob)
    assert client.get(starter.get_absolute_url()).status_code == 200
    assert client.get(private.get_absolute_url()).status_code == 404
    assert "alice private" not in client.get(reverse("manifest_list")).content.decode()
    response = client.post(reverse("session_create", args=[private.pk]), {"backend": "local"})
    assert response.status_code == 404


@pytest.mark.django_db
def test_the_manifest_page_lists_the_starter_files(client, alice, starter):
    page = login(client, alice).get(starter.get_absolute_url()).content.decode()
    for path in ("package.json", "index.html", "vite.config.js", "src/main.tsx", "src/App.tsx"):
        assert path in page
    # What the local backend's isolation is here (the tests run sandboxes as their own user).
    assert "their commands can read its secret key and database" in page


@pytest.mark.django_db
def test_creating_a_local_session_queues_its_start(
    client, alice, starter, django_capture_on_commit_callbacks
):
    login(client, alice)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("session_create", args=[starter.pk]),
            {"backend": "local", "name": "mine", "exposed_ports": "4173"},
        )
    session = SandboxSession.objects.get()
    assert response.status_code == 302 and response.url == session.get_absolute_url()
    assert (session.owner, session.name, session.status) == (alice, "mine", "creating")
    assert session.options == {"exposed_ports": [4173]}
    assert len(callbacks) == 1
    page = client.get(session.get_absolute_url()).content.decode()
    assert "Creating" in page and 'hx-trigger="every 1s"' in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"backend": "e2b"}, "Select a valid choice"),
        ({"backend": "local", "exposed_ports": "80,abc"}, "is not a port number"),
        ({"backend": "local", "exposed_ports": "70000"}, "is not a port number"),
    ],
)
def test_bad_session_input_is_refused_clearly(client, alice, starter, data, message):
    response = login(client, alice).post(reverse("session_create", args=[starter.pk]), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not SandboxSession.objects.exists()


@pytest.mark.django_db
def test_a_sandbox_being_created_polls_for_its_main_part_only(client, alice, starter):
    session = SandboxSession.objects.create(owner=alice, manifest=starter, name="fresh one")
    login(client, alice)
    page = client.get(session.get_absolute_url()).content.decode()
    assert 'hx-target="#session-main"' in page and "<html" in page
    # What htmx sends while it polls (hx-target="#session-main"): that part, no page around it.
    headers = {"HX-Request": "true", "HX-Target": "session-main"}
    fragment = client.get(session.get_absolute_url(), headers=headers).content.decode()
    assert "<html" not in fragment
    assert 'id="session-main"' in fragment and "fresh one" in fragment
    session.status = SandboxSession.Status.RUNNING
    session.save()
    fragment = client.get(session.get_absolute_url(), headers=headers).content.decode()
    assert 'hx-trigger="every 1s"' not in fragment  # running: polling stops


@pytest.mark.django_db
def test_pages_have_a_favicon(client, alice):
    from django.contrib.staticfiles import finders

    page = login(client, alice).get("/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    assert finders.find("favicon.svg")
