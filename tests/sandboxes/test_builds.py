"""Production builds copied out of a remote sandbox (E2B and co.), through a stand-in for the
attached SDK session that runs each script with sh in a local folder (as the SDK runs it in the
sandbox): the build, the size check and the tar come back through `exec` only."""

from __future__ import annotations

import contextlib

import pytest

from sandboxes import builds, services
from sandboxes.models import SandboxSession

from .test_workspace import RemoteStandIn

pytestmark = pytest.mark.django_db(transaction=True)

BUILD = (
    "mkdir -p out/assets && printf '<p>remote</p>' > out/index.html && "
    "printf 'x' > out/assets/a-1.js && ln -sf /etc/hostname out/leak.txt && echo done"
)


@pytest.fixture
async def remote_session(alice, tmp_path, monkeypatch):
    root = tmp_path / "remote-workspace"
    root.mkdir()
    session = await SandboxSession.objects.acreate(
        owner=alice,
        name="remote",
        backend=SandboxSession.Backend.E2B,
        status=SandboxSession.Status.RUNNING,
        sdk_state={"type": "e2b", "manifest": {"root": str(root)}},
    )
    stand_in = RemoteStandIn()

    @contextlib.asynccontextmanager
    async def attached(attached_session):
        assert attached_session.pk == session.pk
        stand_in.attached += 1
        yield stand_in

    monkeypatch.setattr(services, "sandbox_attached", attached)
    session.stand_in = stand_in
    return session


async def build(session, command=BUILD, output="out", limit=1_000_000):
    return await builds.session_build_site(
        session=session, command=command, output=output, limit=limit, seconds=30
    )


async def test_a_remote_build_comes_back_as_its_regular_files(remote_session):
    site = await build(remote_session)
    assert site.files == {"index.html": b"<p>remote</p>", "assets/a-1.js": b"x"}
    assert site.size == 14
    assert "echo done" in site.log and site.log.rstrip().endswith("done")
    assert remote_session.stand_in.attached == 1  # built and copied in one attachment


async def test_a_remote_build_over_the_limit_is_refused_before_it_is_copied(remote_session):
    with pytest.raises(builds.BuildTooLarge, match="The build is 14 bytes; a snapshot holds at"):
        await build(remote_session, limit=10)
    assert not any("base64" in c for c in remote_session.stand_in.commands)


async def test_a_remote_output_folder_that_leads_out_is_refused(remote_session, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "index.html").write_text("not the workspace's")
    with pytest.raises(builds.BuildFailed, match="“out” leads outside the workspace"):
        await build(remote_session, command=f"ln -s {tmp_path / 'elsewhere'} out")


async def test_a_failing_remote_build_says_its_exit_code(remote_session):
    with pytest.raises(builds.BuildFailed) as failed:
        await build(remote_session, command="echo broken >&2; exit 3")
    assert str(failed.value) == "The build command exited with code 3; see its log."
    assert "broken" in failed.value.log


@pytest.mark.parametrize("output", ["../out", "/etc", ""])
async def test_an_output_folder_outside_the_workspace_is_refused_unbuilt(remote_session, output):
    with pytest.raises(builds.BuildFailed, match="output folder is refused"):
        await build(remote_session, output=output)
    assert remote_session.stand_in.commands == []
