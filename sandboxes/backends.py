"""Sandbox backends: which SDK client a session uses and what options it hands it.

The SDK is the engine; a backend only adds what the dashboard needs around it: whether it is
offered here, the options form fields it understands, and where its snapshots live.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from agents.sandbox.session.sandbox_client import BaseSandboxClient

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

    def client(self) -> BaseSandboxClient[Any]:
        raise NotImplementedError

    def client_options(self, options: dict[str, Any]) -> Any:
        raise NotImplementedError

    def snapshot(self, session: SandboxSession) -> Any:
        return None

    def after_resume(self, sdk_session: Any) -> None:
        """Adjust a session the SDK just resumed, before start()."""

    # Fields of the serialized SDK state that hold secrets, sealed before they are stored.
    SECRET_STATE_FIELDS: ClassVar[tuple[str, ...]] = ()

    def seal_state(self, payload: dict[str, Any]) -> dict[str, Any]:
        from runs.secrets import seal

        return {
            key: seal(value) if key in self.SECRET_STATE_FIELDS and value else value
            for key, value in payload.items()
        }

    def unseal_state(self, payload: dict[str, Any]) -> dict[str, Any]:
        from runs.secrets import is_sealed, unseal

        return {key: unseal(v) if is_sealed(v) else v for key, v in payload.items()}


class LocalBackend(Backend):
    id = SandboxSession.Backend.LOCAL
    label = "Local"
    isolated = False

    def client(self):
        from agents.sandbox.sandboxes.unix_local import UnixLocalSandboxClient

        return UnixLocalSandboxClient()

    def client_options(self, options):
        from agents.sandbox.sandboxes.unix_local import UnixLocalSandboxClientOptions

        return UnixLocalSandboxClientOptions(
            exposed_ports=tuple(int(p) for p in options.get("exposed_ports", ()))
        )

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

        from runs.secrets import unseal

        return E2BSandboxClientOptions(
            sandbox_type=options.get("sandbox_type") or "e2b",
            template=options.get("template") or None,
            timeout=options.get("timeout") or None,
            pause_on_exit=bool(options.get("pause_on_exit", False)),
            exposed_ports=tuple(int(p) for p in options.get("exposed_ports", ())),
            allow_internet_access=bool(options.get("allow_internet_access", True)),
            mcp=unseal(options["mcp"]) if options.get("mcp") else None,
        )


BACKENDS: dict[str, Backend] = {b.id: b for b in (LocalBackend(), E2BBackend())}


def get_backend(backend_id: str) -> Backend:
    try:
        backend = BACKENDS[backend_id]
    except KeyError:
        raise BackendUnavailable(f"Unknown sandbox backend {backend_id!r}.") from None
    if not backend.available():
        raise BackendUnavailable(f"The {backend.label} backend is not configured on this server.")
    return backend


def available_backends() -> list[Backend]:
    return [b for b in BACKENDS.values() if b.available()]
