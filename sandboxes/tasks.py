"""Background tasks of sandboxes: each loads its object and calls the service of its name."""

from django.tasks import task


@task()
async def session_start_task(session_id: int) -> None:
    from .services import session_start

    await session_start(session_id=session_id)


@task()
async def preview_boot_task(preview_id: int) -> None:
    from .previews import preview_boot

    await preview_boot(preview_id=preview_id)


@task()
async def session_shutdown_task(session_id: int) -> None:
    from .services import session_stop_in_background

    await session_stop_in_background(session_id=session_id, pause=False)


@task()
async def session_pause_task(session_id: int) -> None:
    from .services import session_stop_in_background

    await session_stop_in_background(session_id=session_id, pause=True)
