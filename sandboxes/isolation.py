"""Who runs what a local sandbox runs: an unprivileged account when the dashboard is root.

The dashboard's own files (its secret key, its database, other sandboxes' snapshots) belong to
the user it runs as. When that is root and the account `SANDBOX_USER` (default
`sandbox-dashboard`, created by `make setup`) exists, every process of a local sandbox (the
agent's commands, PTYs, the SDK's file writes, preview dev servers, console commands, the
node_modules cache copies) runs as that account through `setpriv`, with no capabilities and
no way to gain privileges back, and nothing in a workspace is created by root. Otherwise they
run as the dashboard's own user, and the pages say what that means (`isolation_note`).

The one policy for *who* and *with what environment* (on top of sandboxes.environment's
allowlist): `process_policy(root, env)`. The SDK's local session is bound to it in
`UserUnixLocalSandboxClient`, the one place that reaches into the SDK's private hooks.
"""

from __future__ import annotations

import functools
import os
import pwd
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agents.sandbox.errors import WorkspaceArchiveWriteError
from agents.sandbox.sandboxes.unix_local import UnixLocalSandboxClient, UnixLocalSandboxSession
from django.conf import settings

# A PATH the sandbox user can use: the server's may start in /root (0700: pyenv, cargo).
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
SETPRIV = "/usr/bin/setpriv"
# The dashboard runs with umask 077 (manage.py, config/asgi.py); a sandbox's own files are
# ordinary 0644/0755 ones, as anywhere else.
SANDBOX_UMASK = "022"


@dataclass(frozen=True)
class SandboxIdentity:
    """The unprivileged account local sandboxes run as."""

    name: str
    uid: int
    gid: int

    def prefix(self) -> list[str]:
        # setpriv (util-linux, Essential in Debian) passes the environment through as given,
        # unlike runuser/su/sudo, and exec()s: the pid the dashboard records is the command's.
        return [
            SETPRIV,
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "/bin/sh",
            "-c",
            f'umask {SANDBOX_UMASK} && exec "$0" "$@"',
        ]

    def wrap(self, argv: Sequence[str | Path]) -> list[str]:
        argv = [str(part) for part in argv]
        prefix = self.prefix()
        if argv[: len(prefix)] == prefix:
            return argv  # already wrapped (the SDK's file worker passes through twice)
        return [*prefix, *argv]


@dataclass(frozen=True)
class Isolation:
    identity: SandboxIdentity | None
    reason: str  # why there is no identity ("" when there is one)


def _runs_as(identity: SandboxIdentity, *argv: str) -> bool:
    try:
        result = subprocess.run(
            identity.wrap(argv), capture_output=True, timeout=10, check=False, env={}
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def _traversable(path: Path, mode: int) -> None:
    """Create `path` (and its parents) and give it `mode` if this process owns it."""
    path.mkdir(parents=True, exist_ok=True)
    if path.stat().st_uid == os.geteuid():
        path.chmod(mode)


@functools.cache
def _isolation(user: str, workspaces: str, euid: int) -> Isolation:
    if euid != 0:
        return Isolation(None, "the dashboard does not run as root, so it cannot switch users")
    if not user:
        return Isolation(None, "SANDBOX_USER is empty")
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return Isolation(None, f"there is no user {user!r} (`make setup` as root creates it)")
    if not os.access(SETPRIV, os.X_OK):
        return Isolation(None, f"{SETPRIV} is missing (Debian's util-linux has it)")
    identity = SandboxIdentity(user, entry.pw_uid, entry.pw_gid)
    base = Path(workspaces)
    _traversable(base, 0o711)  # it may go through, not list
    if not _runs_as(identity, "/usr/bin/test", "-x", str(base)):
        return Isolation(
            None, f"{user} cannot reach {base}: each folder above it must be traversable (o+x)"
        )
    return Isolation(identity, "")


def isolation() -> Isolation:
    return _isolation(
        getattr(settings, "SANDBOX_USER", ""), str(settings.SANDBOX_WORKSPACE_DIR), os.geteuid()
    )


def sandbox_identity() -> SandboxIdentity | None:
    """Who local sandboxes run as; None: the dashboard's own user."""
    return isolation().identity


def isolation_note() -> str:
    """What the local backend's isolation is on this server, in a sentence for the pages."""
    current = isolation()
    if current.identity is not None:
        return (
            "Local sandboxes are real folders and processes on this machine, run as the "
            f"unprivileged user {current.identity.name} (uid {current.identity.uid}): their "
            "commands cannot read the dashboard's secret key or database, but they share this "
            "machine's network, and each other's workspaces."
        )
    own = pwd.getpwuid(os.geteuid()).pw_name
    return (
        f"Local sandboxes are real folders and processes on this machine, run as {own}, the "
        f"dashboard's own user ({current.reason}): their commands can read its secret key and "
        "database. Use Docker or E2B for work you do not trust."
    )


def sandbox_cache_dir() -> Path:
    """npm's cache and other tool caches of local sandboxes, shared by them, outside any
    workspace (so not in its tree, zip or snapshot)."""
    return Path(settings.SANDBOX_CACHE_DIR)


def owned_dir(path: Path, identity: SandboxIdentity | None) -> Path:
    """`path` as a directory the sandbox account owns (private to it); made if missing."""
    path.mkdir(parents=True, exist_ok=True)
    if identity is not None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            if os.fstat(fd).st_uid != identity.uid:
                os.fchown(fd, identity.uid, identity.gid)
            os.fchmod(fd, 0o700)
        finally:
            os.close(fd)
    return path


def identity_environment(root: Path, identity: SandboxIdentity) -> dict[str, str]:
    """What changes in a sandbox process's environment under the sandbox account."""
    cache = owned_dir(sandbox_cache_dir(), identity)
    return {
        "HOME": str(root),
        "PATH": SANDBOX_PATH,
        "USER": identity.name,
        "LOGNAME": identity.name,
        "npm_config_cache": str(owned_dir(cache / "npm", identity)),
        "XDG_CACHE_HOME": str(owned_dir(cache / "xdg", identity)),
        # The server's TMPDIR may be its own (0700): the account gets one it can write.
        "TMPDIR": str(owned_dir(cache / "tmp", identity)),
    }


@dataclass(frozen=True)
class ProcessPolicy:
    identity: SandboxIdentity | None
    env: dict[str, str]

    def argv(self, *argv: str | Path) -> list[str]:
        return self.identity.wrap(argv) if self.identity else [str(part) for part in argv]

    def shell(self, command: str) -> list[str]:
        """argv for create_subprocess_exec in place of create_subprocess_shell(command)."""
        return self.argv("/bin/sh", "-c", command)


def process_policy(root: Path, env: Mapping[str, str]) -> ProcessPolicy:
    """Who runs a process in the workspace at `root`, and the environment it gets."""
    identity = sandbox_identity()
    env = dict(env)
    if identity is not None:
        env.update(identity_environment(root, identity))
    return ProcessPolicy(identity, env)


# --- the SDK's local session, bound to the policy --------------------------------------------


class UserUnixLocalSession(UnixLocalSandboxSession):
    """The SDK's local session whose processes and file writes run as `_identity`."""

    _identity: SandboxIdentity | None = None

    # Processes: the one hook both exec() and pty_exec_start() go through.
    def _confined_exec_command(self, *, command_parts, workspace_root, env):
        parts = super()._confined_exec_command(
            command_parts=command_parts, workspace_root=workspace_root, env=env
        )
        return self._identity.wrap(parts) if self._identity else parts

    # user= (the SDK's file worker) becomes our account, not `sudo -u` (absent here, and it
    # would reset the environment the SDK builds).
    def _prepare_exec_command(self, *command, shell, user):
        if self._identity is None:
            return super()._prepare_exec_command(*command, shell=shell, user=user)
        parts = super()._prepare_exec_command(*command, shell=shell, user=None)
        return self._identity.wrap(parts) if user is not None else parts

    async def _resolved_exec_context(self):
        env, cwd = await super()._resolved_exec_context()
        if self._identity is not None:
            env.update(identity_environment(Path(cwd), self._identity))
        return env, cwd

    async def _prepare_backend_workspace(self) -> None:
        root = Path(self.state.manifest.root)
        if self._identity is not None:
            _traversable(root.parent, 0o711)  # remade at 0700 (umask) the account could not pass
        await super()._prepare_backend_workspace()
        if self._identity is not None:
            owned_dir(root, self._identity)

    # Files: everything the SDK creates goes through its own run-as-user worker.
    def _as(self, user):
        if user is not None or self._identity is None:
            return user
        return self._identity.name

    async def write(self, path, data, *, user=None):
        return await super().write(path, data, user=self._as(user))

    async def _write_new_file(self, path, data, *, user=None):
        return await super()._write_new_file(path, data, user=self._as(user))

    async def mkdir(self, path, *, parents=False, user=None):
        if self._identity is None:
            return await super().mkdir(path, parents=parents, user=user)
        # The SDK's mkdir(user=) only checks as the user, then creates as the server.
        normalized = self.normalize_path(path, for_write=True)
        argv = ["mkdir", *(["-p"] if parents else []), "--", str(normalized)]
        result = await self.exec(*argv, shell=False)
        if not result.ok():
            raise WorkspaceArchiveWriteError(
                path=normalized, context={"stderr": result.stderr.decode(errors="replace")}
            )


class UserUnixLocalSandboxClient(UnixLocalSandboxClient):
    """The SDK's local client; its sessions run as the current sandbox identity."""

    def _rebind(self, session):
        inner = session._inner
        mine = UserUnixLocalSession.from_state(inner.state)
        mine._host_environment_allowlist = inner._host_environment_allowlist
        mine._identity = sandbox_identity()  # runtime policy, never read from stored state
        return self._wrap_session(mine, instrumentation=self._instrumentation)

    async def create(self, **kwargs):
        return self._rebind(await super().create(**kwargs))

    async def resume(self, state):
        return self._rebind(await super().resume(state))


def run_as_sandbox(identity: SandboxIdentity, *argv: str | Path, timeout: float = 600) -> None:
    """Run a file utility as the sandbox account; OSError with its message if it fails."""
    result = subprocess.run(
        identity.wrap(argv),
        capture_output=True,
        timeout=timeout,
        check=False,
        env={"PATH": SANDBOX_PATH},
        cwd="/",
    )
    if result.returncode:
        raise OSError(result.stderr.decode(errors="replace").strip() or f"{argv[0]} failed")


def copy_tree_as_sandbox(source: Path, target: Path, identity: SandboxIdentity) -> None:
    """Hard-link copy of `source` into `target` (cp -a --link) done by the sandbox account, so
    a tree the sandbox controls is never walked by root and the copy is the account's own."""
    run_as_sandbox(identity, "cp", "-a", "--link", "--", source, target)


def rename_as_sandbox(source: Path, target: Path, identity: SandboxIdentity) -> None:
    run_as_sandbox(identity, "mv", "-T", "--", source, target, timeout=60)
