"""Pages of runs: login, ownership (bob never sees alice's runs), the run form's clear errors."""

import pytest
from django.urls import reverse

from runs.models import Run
from sandboxes.models import SandboxSession

from ..conftest import login


@pytest.mark.django_db
def test_detail_pages_require_login(client, alice_run):
    for url in (alice_run.session.get_absolute_url(), alice_run.get_absolute_url()):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response.url


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
def test_a_refused_htmx_run_form_answers_with_its_own_fragment_and_names_it(
    client, alice, alice_run
):
    """Another run is active: the answer replaces the form (HX-Retarget), never the page."""
    response = login(client, alice).post(
        reverse("run_create", args=[alice_run.session.pk]),
        RUN_FORM | {"prompt": "a second one"},
        headers={"HX-Request": "true", "HX-Target": "run-form"},
    )
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#run-form"
    assert response.headers["HX-Reswap"] == "outerHTML"
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="run-form"')
    assert "<html" not in html and "topbar" not in html
    assert "Another run is still active" in html and "a second one" in html
    assert Run.objects.count() == 1
