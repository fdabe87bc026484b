"""Pages: login everywhere, ownership (bob never sees alice's things), forms with clear errors."""

import pytest
from django.urls import reverse

from runs.models import Run
from sandboxes.models import Manifest, SandboxSession

from .conftest import PASSWORD


@pytest.fixture
def alice_session(alice, starter):
    return SandboxSession.objects.create(
        owner=alice,
        manifest=starter,
        name="alice sandbox",
        status=SandboxSession.Status.RUNNING,
        sdk_state={"type": "unix_local", "manifest": {"root": "/nonexistent"}},
    )


@pytest.fixture
def alice_run(alice, alice_session):
    return Run.objects.create(
        owner=alice, session=alice_session, config={"name": "A", "model": "demo"}, prompt="hi"
    )


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["home", "manifest_list", "session_list"])
def test_pages_require_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.django_db
def test_detail_pages_require_login(client, alice_run):
    for url in (alice_run.session.get_absolute_url(), alice_run.get_absolute_url()):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response.url


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
def test_another_user_gets_404_for_sessions_and_runs(client, bob, alice_run):
    login(client, bob)
    session = alice_run.session
    assert client.get(session.get_absolute_url()).status_code == 404
    assert client.get(alice_run.get_absolute_url()).status_code == 404
    assert client.post(reverse("session_shutdown", args=[session.pk])).status_code == 404
    assert client.post(reverse("run_cancel", args=[alice_run.pk])).status_code == 404
    response = client.post(reverse("run_create", args=[session.pk]), {"prompt": "steal"})
    assert response.status_code == 404
    assert Run.objects.count() == 1
    session.refresh_from_db()
    assert session.status == SandboxSession.Status.RUNNING


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
    assert "no isolation" in page


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


RUN_FORM = {
    "name": "Builder",
    "model": "demo",
    "instructions": "",
    "developer_instructions": "",
    "capabilities": ["shell", "filesystem"],
    "tool_choice": "auto",
    "max_turns": "20",
    "prompt": "Make it blue",
}


@pytest.mark.django_db
def test_starting_a_run_redirects_to_its_live_page(
    client, alice, alice_session, django_capture_on_commit_callbacks
):
    login(client, alice)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("run_create", args=[alice_session.pk]), RUN_FORM, headers={"HX-Request": "true"}
        )
    run = Run.objects.get()
    assert response.headers["HX-Redirect"] == run.get_absolute_url()
    assert len(callbacks) == 1
    assert run.config["model"] == "demo"
    assert run.config["capabilities"] == ["shell", "filesystem"]
    assert run.status == Run.Status.QUEUED
    page = client.get(run.get_absolute_url()).content.decode()
    assert "Make it blue" in page
    assert f'data-ws-path="/ws/runs/{run.pk}/"' in page
    assert "offline demo, no LLM" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prompt": "   "}, "Write a prompt for the agent."),
        ({"model": "gpt-5.4"}, "Real models need OPENAI_API_KEY"),
        ({"max_turns": "0"}, "greater than or equal to 1"),
    ],
)
def test_bad_run_input_is_refused_and_keeps_what_was_typed(
    client, alice, alice_session, change, message
):
    data = RUN_FORM | change | {"instructions": "my careful instructions"}
    response = login(client, alice).post(reverse("run_create", args=[alice_session.pk]), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert "my careful instructions" in page
    assert not Run.objects.exists()


@pytest.mark.django_db
def test_real_models_are_offered_with_a_key(client, alice, alice_session, settings):
    settings.OPENAI_API_KEY_SET = True
    login(client, alice)
    page = client.get(alice_session.get_absolute_url()).content.decode()
    assert '<option value="gpt-5.4">' in page
    response = client.post(
        reverse("run_create", args=[alice_session.pk]), RUN_FORM | {"model": "gpt-5.4-mini"}
    )
    assert response.status_code == 302
    assert Run.objects.get().config["model"] == "gpt-5.4-mini"


@pytest.mark.django_db
def test_only_one_active_run_per_sandbox(client, alice, alice_run):
    response = login(client, alice).post(
        reverse("run_create", args=[alice_run.session.pk]), RUN_FORM
    )
    assert response.status_code == 400
    assert "Another run is still active" in response.content.decode()
    assert Run.objects.count() == 1


@pytest.mark.django_db
def test_runs_need_a_running_sandbox(client, alice, alice_session):
    alice_session.status = SandboxSession.Status.FAILED
    alice_session.save()
    url = reverse("run_create", args=[alice_session.pk])
    response = login(client, alice).post(url, RUN_FORM, headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert "The sandbox is failed; runs need a running one." in response.content.decode()
    response = client.post(url, RUN_FORM)
    assert response.status_code == 400
    assert "This sandbox is failed" in response.content.decode()
    assert not Run.objects.exists()


@pytest.mark.django_db
def test_admin_never_shows_stored_sdk_state_secrets(client, alice, alice_session):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("root", "", PASSWORD)
    alice_session.sdk_state = {
        "type": "e2b",
        "session_id": "abc",
        "base_envs": {"API_TOKEN": "sk-super-secret-value"},
        "mcp": {"exa": {"apiKey": "mcp-secret-key"}},
        "manifest": {"root": "/workspace"},
    }
    alice_session.save()
    client.login(username="root", password=PASSWORD)
    for url in (
        reverse("admin:sandboxes_sandboxsession_changelist"),
        reverse("admin:sandboxes_sandboxsession_change", args=[alice_session.pk]),
    ):
        page = client.get(url).content.decode()
        assert "sk-super-secret-value" not in page
        assert "mcp-secret-key" not in page
    assert "abc" in page


@pytest.mark.django_db
def test_admin_lists_previews_comparisons_and_share_links_without_their_salt(client, alice):
    from datetime import timedelta

    from django.contrib.auth import get_user_model

    from sandboxes.comparisons import share_create, share_token
    from sandboxes.models import Comparison, Preview

    session = SandboxSession.objects.create(owner=alice, name="s", status="running")
    Preview.objects.create(session=session)
    comparison = Comparison.objects.create(owner=alice, title="cmp")
    share = share_create(owner=alice, comparison=comparison, expires_in=timedelta(hours=1))
    get_user_model().objects.create_superuser("root", "", PASSWORD)
    client.login(username="root", password=PASSWORD)
    for name in ("sandboxes_preview", "sandboxes_comparison", "sandboxes_sharelink"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200
    page = client.get(reverse("admin:sandboxes_sharelink_change", args=[share.pk])).content
    assert share.salt.encode() not in page
    assert share_token(share).encode() not in page
