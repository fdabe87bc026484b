"""Versions side by side: one starter, one agent config, several prompts, one sandbox each.

Each version is built by one background task: create its sandbox, run the agent, and when the
run succeeds start the preview. Versions build concurrently and fail independently.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.db import transaction

from lib.errors import describe_error
from runs.executor import run_execute
from runs.models import LaneGroup, Run, Thread
from runs.services import RunRefused, run_start
from sandboxes.models import Manifest, Preview, SandboxSession
from sandboxes.previews import preview_boot
from sandboxes.screenshots import ScreenshotFailed, screenshot_take
from sandboxes.services import session_start
from sandboxes.workspace import workspace_changes

from .models import Comparison, Version
from .snapshots import live_shares, snapshot_request

logger = logging.getLogger(__name__)

MIN_VERSIONS, MAX_VERSIONS = 2, 6


class ComparisonRefused(Exception):
    pass


def comparison_create(
    *,
    owner,
    manifest: Manifest,
    title: str,
    config: dict,
    prompts: list[tuple[str, str]],
    backend_id: str = SandboxSession.Backend.LOCAL,
) -> Comparison:
    """Create a comparison with one version per (label, prompt) and start building them all."""
    if not MIN_VERSIONS <= len(prompts) <= MAX_VERSIONS:
        raise ComparisonRefused(
            f"A comparison has {MIN_VERSIONS} to {MAX_VERSIONS} versions, not {len(prompts)}."
        )
    with transaction.atomic():
        comparison = Comparison.objects.create(
            owner=owner,
            manifest=manifest,
            title=title or manifest.name,
            config=config | {"backend": backend_id},
        )
        for label, prompt in prompts:
            version_add(comparison=comparison, label=label, prompt=prompt)
    return comparison


def version_add(*, comparison: Comparison, label: str, prompt: str) -> Version:
    from .tasks import version_build_task

    if not prompt.strip():
        raise ComparisonRefused("Each version needs a prompt.")
    if comparison.versions.count() >= MAX_VERSIONS:
        raise ComparisonRefused(f"A comparison shows at most {MAX_VERSIONS} versions.")
    position = comparison.versions.count()
    version = Version.objects.create(
        comparison=comparison,
        label=label.strip() or f"Version {position + 1}",
        prompt=prompt.strip(),
        position=position,
    )
    transaction.on_commit(lambda: version_build_task.enqueue(version.pk))
    return version


async def _stage(version: Version, stage: str, **fields) -> None:
    version.stage = stage
    for name, value in fields.items():
        setattr(version, name, value)
    await version.asave(update_fields=["stage", *fields])


async def version_build(*, version_id: int) -> None:
    version = await Version.objects.select_related("comparison").aget(pk=version_id)
    comparison = version.comparison
    if version.session_id is not None:
        return  # already building (the task ran twice)
    try:
        manifest = await Manifest.objects.aget(pk=comparison.manifest_id)
        session = await SandboxSession.objects.acreate(
            owner_id=comparison.owner_id,
            manifest=manifest,
            name=f"{comparison.title}: {version.label}",
            backend=comparison.config.get("backend", SandboxSession.Backend.LOCAL),
            options={"exposed_ports": [Preview.DEFAULT_PORT]},
        )
        await _stage(version, Version.Stage.SANDBOX, session=session)
        await session_start(session_id=session.pk)
        await session.arefresh_from_db()
        if session.status != SandboxSession.Status.RUNNING:
            raise RuntimeError(f"The sandbox failed to start: {session.last_error}")

        # The build is turn 1 of the version's conversation: "refine" continues it.
        thread = await Thread.objects.acreate(owner_id=comparison.owner_id, session=session)
        run = await Run.objects.acreate(
            owner_id=comparison.owner_id,
            session=session,
            thread=thread,
            turn=1,
            config=comparison.config,
            prompt=version.prompt,
        )
        await _stage(version, Version.Stage.RUNNING, run=run)
        await run_execute(run_id=run.pk)
        await run.arefresh_from_db()
        files = await sync_to_async(workspace_changes)(session, manifest)
        if run.status != Run.Status.SUCCEEDED:
            await _stage(
                version,
                Version.Stage.FAILED,
                files_changed=files,
                error=f"The run {run.get_status_display().lower()}: {run.error}",
            )
            return

        preview = await Preview.objects.acreate(session=session, command=Preview.DEFAULT_COMMAND)
        await _stage(version, Version.Stage.PREVIEW, preview=preview, files_changed=files)
        await preview_boot(preview_id=preview.pk)  # returns once the app answers, or failed
        await preview.arefresh_from_db(fields=["status", "error"])
        if preview.status == Preview.Status.READY:
            await version_photograph(version=version)  # the card's thumbnail
            await _stage(version, Version.Stage.READY)
        else:
            await _stage(
                version, Version.Stage.FAILED, error=f"The preview failed: {preview.error}"
            )
    except Exception as error:
        logger.warning("Version %s failed", version_id, exc_info=True)
        await _stage(version, Version.Stage.FAILED, error=describe_error(error))


async def version_photograph(*, version: Version):
    """A thumbnail of the version's app (its card and share pages show the newest). A picture
    that cannot be taken is logged; the version stays ready."""
    session = await SandboxSession.objects.aget(pk=version.session_id)
    try:
        return await screenshot_take(session=session)
    except (ScreenshotFailed, OSError) as error:
        logger.warning("No screenshot of version %s: %s", version.pk, describe_error(error))
        return None


def version_snapshots_request(*, version: Version) -> int:
    """Snapshots of a newly ready version for the live links of its comparison that show it
    (pinned when it was already part of the comparison) and have none yet."""
    count = 0
    for share in live_shares().filter(comparison_id=version.comparison_id):
        shown = {pin["version"] for pin in share.pinned} if share.pinned else None
        if shown is not None and version.pk not in shown:
            continue
        if not share.snapshots.filter(preview_id=version.preview_id).exists():
            with transaction.atomic():
                snapshot_request(share=share, preview=version.preview, version=version)
            count += 1
    return count


def version_refine(*, version: Version, owner, prompt: str) -> Run:
    """A follow-up turn in the version's sandbox, continuing its conversation; its running
    preview hot-reloads as the agent edits the files."""
    if version.session is None:
        raise ComparisonRefused("This version has no sandbox to refine.")
    if version.in_progress:
        raise ComparisonRefused("This version is still being built; refine it once it is ready.")
    try:
        run = run_start(
            owner=owner,
            session=version.session,
            config=version.comparison.config,
            prompt=prompt,
        )
    except RunRefused as error:
        raise ComparisonRefused(str(error)) from error
    # The version is now its latest turn (what a share made from here on pins).
    Version.objects.filter(pk=version.pk).update(run=run)
    return run


def comparison_from_lane_group(*, owner, group: LaneGroup) -> Comparison:
    """The lanes of an agent-led group (homepage directions) side by side, as a comparison:
    one version per lane that was called, with its sandbox, its latest call and its preview.
    Nothing is rebuilt; the comparison can be refined and shared like any other."""
    if group.owner_id != owner.pk:
        raise ComparisonRefused("That lane group is not yours.")
    lanes = [
        lane
        for lane in group.lanes.select_related("session", "session__manifest")
        if lane.calls.exists()
    ]
    if len(lanes) < MIN_VERSIONS:
        raise ComparisonRefused(
            f"A comparison needs {MIN_VERSIONS} lanes that have run; wait for the coordinator."
        )
    with transaction.atomic():
        comparison = Comparison.objects.create(
            owner=owner,
            manifest=lanes[0].session.manifest,
            title=group.title,
            config=lanes[0].config | {"backend": lanes[0].session.backend},
        )
        for position, lane in enumerate(lanes[:MAX_VERSIONS]):
            run = lane.calls.order_by("-pk").first()
            preview = lane.session.previews.order_by("-pk").first()
            stage = Version.Stage.FAILED
            error = ""
            if run.status != Run.Status.SUCCEEDED:
                error = f"The lane's run {run.get_status_display().lower()}: {run.error}"
            elif preview is None:
                error = "This lane served no preview."
            elif preview.status == Preview.Status.READY:
                stage = Version.Stage.READY
            elif preview.status == Preview.Status.STARTING:
                stage = Version.Stage.PREVIEW
            else:
                error = f"The preview {preview.get_status_display().lower()}: {preview.error}"
            manifest = lane.session.manifest
            Version.objects.create(
                comparison=comparison,
                label=lane.label,
                prompt=run.prompt,
                position=position,
                session=lane.session,
                run=run,
                preview=preview,
                stage=stage,
                error=error,
                files_changed=workspace_changes(lane.session, manifest) if manifest else [],
            )
    return comparison


def version_follow_preview(*, version: Version) -> Version:
    """A version adopted while its preview booted (comparison_from_lane_group) has no build
    task to stage it: it follows its preview, as version_build would have."""
    preview = version.preview
    if version.stage != Version.Stage.PREVIEW or preview is None or version.session_id is None:
        return version
    if version.run is None or version.run.lane_id is None:
        return version  # a version being built: its own task stages it
    if preview.status == Preview.Status.READY:
        version.stage = Version.Stage.READY
    elif preview.status in (Preview.Status.FAILED, Preview.Status.STOPPED):
        version.stage, version.error = Version.Stage.FAILED, f"The preview failed: {preview.error}"
    else:
        return version
    Version.objects.filter(pk=version.pk).update(stage=version.stage, error=version.error)
    return version
