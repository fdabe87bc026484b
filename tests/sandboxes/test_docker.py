"""Docker: offered only where an engine answers, its options mapped for the SDK."""

from __future__ import annotations

import pytest

from sandboxes import services
from sandboxes.backends import BackendUnavailable, DockerBackend, get_backend
from sandboxes.forms import SessionForm
from sandboxes.models import SandboxSession

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def docker_probe(monkeypatch):
    """Forget the cached answer of the Docker engine probe (restored after the test)."""
    monkeypatch.setattr(DockerBackend, "_checked", (float("-inf"), False))


def backend_choices() -> list[str]:
    return [choice for choice, _ in SessionForm().fields["backend"].choices]


DOCKER_FORM = {"backend": "docker", "image": "python:3.12-slim", "network": "none"}


def test_without_a_docker_engine_docker_is_not_offered(
    docker_probe, monkeypatch, tmp_path, alice, starter
):
    # The real probe, pointed at a socket nothing listens on (whatever this machine has).
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")

    assert "docker" not in backend_choices()
    assert "local" in backend_choices()
    form = SessionForm(data={**DOCKER_FORM, "exposed_ports": ""})
    assert not form.is_valid()
    assert "docker is not one of the available choices" in str(form.errors["backend"])
    with pytest.raises(BackendUnavailable, match="Docker backend is not configured"):
        get_backend("docker")
    with pytest.raises(BackendUnavailable):
        services.session_create(owner=alice, manifest=starter, backend_id="docker")
    assert not SandboxSession.objects.exists()


class FakeDockerClient:
    def __init__(self) -> None:
        self.pings = 0

    def ping(self) -> bool:
        self.pings += 1
        return True


def test_with_an_engine_that_answers_docker_is_offered_and_its_options_mapped(
    docker_probe, monkeypatch
):
    import docker

    engine = FakeDockerClient()
    asked: list[dict] = []

    def from_env(**kwargs):
        asked.append(kwargs)
        return engine

    monkeypatch.setattr(docker, "from_env", from_env)

    assert "docker" in backend_choices()
    assert engine.pings == 1
    backend = get_backend("docker")
    assert backend.id == "docker"
    assert engine.pings == 1  # the answer is cached
    assert asked == [{"timeout": 2}]

    # E2B's fields are ignored for Docker; network "none" maps to network_mode "none".
    form = SessionForm(data={**DOCKER_FORM, "exposed_ports": "", "timeout": "900"})
    assert form.is_valid(), form.errors
    options = form.backend_options()
    assert options == {"exposed_ports": [], "image": "python:3.12-slim", "network": "none"}
    mapped = backend.client_options(options)
    assert mapped.image == "python:3.12-slim"
    assert mapped.network_mode == "none"
    assert tuple(mapped.exposed_ports) == ()
    assert mapped.labels == {"sandbox-dashboard": "1"}

    form = SessionForm(
        data={"backend": "docker", "image": "", "network": "default", "exposed_ports": "8080, 4173"}
    )
    assert form.is_valid(), form.errors
    mapped = backend.client_options(form.backend_options())
    assert mapped.image == DockerBackend.DEFAULT_IMAGE
    assert mapped.network_mode is None
    assert tuple(mapped.exposed_ports) == (8080, 4173)


def test_docker_without_network_and_with_ports_is_refused_by_the_form_not_at_start(
    docker_probe, monkeypatch
):
    import docker

    monkeypatch.setattr(docker, "from_env", lambda **kwargs: FakeDockerClient())
    form = SessionForm(data={**DOCKER_FORM, "exposed_ports": "4173"})
    if form.is_valid():
        get_backend("docker").client_options(form.backend_options())
    else:
        assert form.errors
