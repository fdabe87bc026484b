"""Background tasks of runs: each calls the service of its name (queued rows name these paths;
see the README's upgrade notes before renaming one)."""

from django.tasks import task


@task()
async def run_execute_task(run_id: int) -> None:
    from .executor import run_execute

    await run_execute(run_id=run_id)


@task()
async def lane_group_execute_task(group_id: int) -> None:
    from .lanes import lane_group_execute

    await lane_group_execute(group_id=group_id)


@task()
async def run_after_session_start_task(run_id: int) -> None:
    from .lanes import run_after_session_start

    await run_after_session_start(run_id=run_id)
