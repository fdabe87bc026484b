"""Sandbox backends: which SDK client a session uses and what options it hands it.

The SDK is the engine; a backend only adds what the dashboard needs around it: whether it is
offered here, the options form fields it understands, and where its snapshots live.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from agents.sandbox.session.sandbox_client import BaseSandboxClient
from django.conf import settings
from django.contrib.auth import get_user_model

from lib.secrets import is_sealed, seal, unseal

from .environment import sandbox_environment_names
from .models import SandboxSession


class BackendUnavailable(Exception):
    pass


@dataclass(frozen=True)
class Backend:
    id: ClassVar[str]
    label: ClassVar[str]
    isolated: ClassVar[bool]

    def available(self) -> bool:
        return True

    def allowed_for(self, user) -> bool:
        """Whether `user` may use this backend (besides it being available here)."""
        return True

    refused: ClassVar[str] = ""  # what a user who may not use it is told

    def client(self) -> BaseSandboxClient[Any]:
        raise NotImplementedError

    def client_options(self, options: dict[str, Any]) -> Any:
        raise NotImplementedError

    def snapshot(self, session: SandboxSession) -> Any:
        return None

    def after_resume(self, sdk_session: Any) -> None:
        """Adjust a session the SDK just resumed, before start()."""

    def manifest_for(self, session: SandboxSession, manifest: Any) -> Any:
        """The SDK manifest a new sandbox of this session is created from."""
        return manifest

    def after_discard(self, sdk_session: Any) -> None:
        """Remove what the SDK's delete() leaves of a sandbox that ended for good."""

    def timeout_seconds(self, options: dict[str, Any]) -> int | None:
        """How long the provider keeps the sandbox after each use, if it stops it by itself."""
        return None

    async def extend(self, sdk_session: Any, seconds: int) -> None:
        raise BackendUnavailable(f"{self.label} sandboxes have no timeout to extend.")

    async def pause(self, sdk_session: Any) -> None:
        """Release what the sandbox holds while keeping its workspace (default: nothing to do:
        between runs the SDK session is already stopped)."""

    # Fields of the serialized SDK state that hold secrets, sealed before they are stored.
    SECRET_STATE_FIELDS: ClassVar[tuple[str, ...]] = ()

    def seal_state(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            key: seal(value) if key in self.SECRET_STATE_FIELDS and value else value
            for key, value in payload.items()
        }

    def unseal_state(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {key: unseal(v) if is_sealed(v) else v for key, v in payload.items()}


class LocalBackend(Backend):
    id = SandboxSession.Backend.LOCAL
    label = "Local"
    isolated = False
    # Workspaces are SANDBOX_WORKSPACE_DIR/session-<pk>; the reaper recognises them by it.
    WORKSPACE_PREFIX = "session-"
    refused = (
        "Local sandboxes run real processes on this machine; on this dashboard they are for "
        "staff users only. Ask an administrator, or pick another backend."
    )

    def timeout_seconds(self, options: dict[str, Any]) -> int | None:
        """Idle local sandboxes are paused by the reaper (sandboxes.reaper.reap_idle_sessions)."""
        return settings.SANDBOX_IDLE_MINUTES * 60 or None

    async def extend(self, sdk_session: Any, seconds: int) -> None:
        """Nothing to tell a provider: the reaper reads the session's new timeout_at."""

    def allowed_for(self, user) -> bool:
        # A setting opens them to everyone (DASHBOARD_LOCAL_SANDBOXES=everyone).
        if settings.LOCAL_SANDBOXES == "everyone":
            return True
        return bool(user is not None and user.is_active and user.is_staff)

    def client(self):
        from .isolation import UserUnixLocalSandboxClient

        # Agents' commands must not see the dashboard's own environment (OPENAI_API_KEY,
        # E2B_API_KEY, DJANGO_SECRET_KEY...): only an allowlist passes. They run as the
        # sandbox account when the dashboard is root (sandboxes.isolation).
        return UserUnixLocalSandboxClient(
            inherit_host_environment=False, host_environment_allowlist=sandbox_environment_names()
        )

    def client_options(self, options):
        from agents.sandbox.sandboxes.unix_local import UnixLocalSandboxClientOptions

        return UnixLocalSandboxClientOptions(
            exposed_ports=tuple(int(p) for p in options.get("exposed_ports", ()))
        )

    def manifest_for(self, session, manifest):
        # Workspaces live under the dashboard's own data dir, not the shared temp dir, so the
        # reaper can tell its orphans from another program's (or another dashboard's) folders.
        root = settings.SANDBOX_WORKSPACE_DIR / f"{self.WORKSPACE_PREFIX}{session.pk}"
        return manifest.model_copy(update={"root": str(root)}, deep=True)

    def after_discard(self, sdk_session):
        root = Path(sdk_session.state.manifest.root)
        if root.is_relative_to(settings.SANDBOX_WORKSPACE_DIR):
            shutil.rmtree(root, ignore_errors=True)

    def after_resume(self, sdk_session):
        # The workspace directory on this machine *is* the session's state. Left alone, the
        # SDK's start() on a resumed local session re-applies the manifest (undoing every edit)
        # or, with a snapshot, wipes the directory and untars it (node_modules included, under
        # a running dev server). Declaring it preserved makes start() reuse it as it is.
        inner = sdk_session._inner
        if Path(inner.state.manifest.root).is_dir():
            inner._set_start_state_preserved(True)


class E2BBackend(Backend):
    id = SandboxSession.Backend.E2B
    label = "E2B"
    isolated = True

    SANDBOX_TYPES = (("e2b", "E2B sandbox"), ("e2b_code_interpreter", "E2B code interpreter"))
    # E2B's state keeps the sandbox's envs and MCP settings (API keys) in plain text.
    SECRET_STATE_FIELDS = ("base_envs", "mcp")

    def available(self) -> bool:
        return bool(os.environ.get("E2B_API_KEY"))

    def client(self):
        from agents.extensions.sandbox.e2b.sandbox import E2BSandboxClient

        return E2BSandboxClient()

    def client_options(self, options):
        from agents.extensions.sandbox.e2b.sandbox import E2BSandboxClientOptions

        return E2BSandboxClientOptions(
            sandbox_type=options.get("sandbox_type") or "e2b",
            template=options.get("template") or None,
            timeout=options.get("timeout") or None,
            metadata=options.get("metadata") or None,
            # Envs and MCP settings hold keys: sealed in the options, opened only here.
            envs=unseal(options["envs"]) if options.get("envs") else None,
            pause_on_exit=bool(options.get("pause_on_exit", False)),
            exposed_ports=tuple(int(p) for p in options.get("exposed_ports", ())),
            allow_internet_access=bool(options.get("allow_internet_access", True)),
            on_timeout=options.get("on_timeout") or "pause",
            auto_resume=bool(options.get("auto_resume", True)),
            mcp=unseal(options["mcp"]) if options.get("mcp") else None,
        )

    E2B_DEFAULT_TIMEOUT = 300  # what E2B applies when none is given

    def timeout_seconds(self, options: dict[str, Any]) -> int | None:
        return options.get("timeout") or self.E2B_DEFAULT_TIMEOUT

    @staticmethod
    def e2b_sandbox(sdk_session: Any) -> Any:
        """The e2b SDK's own sandbox object under the Agents SDK's session, or None.

        The one place that reaches into the Agents SDK's private E2B attributes.
        """
        return getattr(getattr(sdk_session, "_inner", None), "_sandbox", None)

    async def extend(self, sdk_session: Any, seconds: int) -> None:
        await self.e2b_sandbox(sdk_session).set_timeout(seconds)

    async def mcp_gateway(self, sdk_session: Any) -> tuple[str, str]:
        """The URL and bearer token of the MCP gateway inside this E2B sandbox."""
        raw = self.e2b_sandbox(sdk_session)
        if raw is None or not hasattr(raw, "get_mcp_url"):
            raise ValueError("E2B MCP servers need a session on the E2B backend.")
        token = await raw.get_mcp_token()
        if not token:
            raise ValueError(
                "This E2B sandbox was created without MCP servers; start a new sandbox with them."
            )
        return raw.get_mcp_url(), token

    async def pause(self, sdk_session: Any) -> None:
        """E2B keeps a paused sandbox (files and memory) until it is resumed."""
        chosen = sdk_session.state.pause_on_exit
        sdk_session.state.pause_on_exit = True  # shutdown() then pauses instead of killing
        try:
            await sdk_session.shutdown()
        finally:
            sdk_session.state.pause_on_exit = chosen  # the user's choice for later attaches


class DockerBackend(Backend):
    """The SDK's Docker client, offered when a Docker engine answers on this machine."""

    id = SandboxSession.Backend.DOCKER
    label = "Docker"
    isolated = True
    DEFAULT_IMAGE = "node:22-bookworm"
    _checked: ClassVar[tuple[float, bool]] = (0.0, False)

    def available(self) -> bool:
        checked_at, answer = DockerBackend._checked
        if time.monotonic() - checked_at < 30:
            return answer
        try:
            import docker

            docker.from_env(timeout=2).ping()
            answer = True
        except Exception:
            answer = False
        DockerBackend._checked = (time.monotonic(), answer)
        return answer

    def client(self):
        import docker
        from agents.sandbox.sandboxes.docker import DockerSandboxClient

        return DockerSandboxClient(docker_client=docker.from_env())

    def client_options(self, options):
        from agents.sandbox.sandboxes.docker import DockerSandboxClientOptions

        return DockerSandboxClientOptions(
            image=options.get("image") or self.DEFAULT_IMAGE,
            exposed_ports=tuple(int(p) for p in options.get("exposed_ports", ())),
            network_mode="none" if options.get("network") == "none" else None,
            labels={"sandbox-dashboard": "1"},
        )


# Another SDK provider (Modal, Daytona, Runloop, Vercel, Blaxel, Cloudflare) is one class like
# these: its id and label, when it is offered, its client and the options it hands it.
BACKENDS: dict[str, Backend] = {b.id: b for b in (LocalBackend(), E2BBackend(), DockerBackend())}


def get_backend(backend_id: str, user=None) -> Backend:
    """The backend, if configured here (and, given a user, if that user may use it)."""
    try:
        backend = BACKENDS[backend_id]
    except KeyError:
        raise BackendUnavailable(f"Unknown sandbox backend {backend_id!r}.") from None
    if not backend.available():
        raise BackendUnavailable(f"The {backend.label} backend is not configured on this server.")
    if user is not None and not backend.allowed_for(user):
        raise BackendUnavailable(backend.refused)
    return backend


async def check_owner_allowed(session: SandboxSession) -> None:
    """BackendUnavailable unless the session's owner may (still) use its backend: asked before
    anything runs in a sandbox, so a local session does not outlive its owner's right to it."""
    backend = BACKENDS.get(session.backend)
    owner = await get_user_model().objects.aget(pk=session.owner_id)
    if backend is not None and not backend.allowed_for(owner):
        raise BackendUnavailable(backend.refused)


async def backend_of(session: SandboxSession) -> Backend:
    """The session's backend, if it is configured here and its owner may (still) use it."""
    await check_owner_allowed(session)
    return get_backend(session.backend)


def available_backends(user=None) -> list[Backend]:
    """Backends configured here; given a user, those that user may use."""
    return [b for b in BACKENDS.values() if b.available() and (user is None or b.allowed_for(user))]
