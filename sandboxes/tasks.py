from django.tasks import task

from . import services


@task()
async def start_session(session_id: int) -> None:
    await services.session_start(session_id=session_id)


@task()
async def run_preview(preview_id: int) -> None:
    from . import previews

    await previews.run_preview(preview_id=preview_id)


@task()
async def build_version(version_id: int) -> None:
    from . import comparisons

    await comparisons.version_build(version_id=version_id)
