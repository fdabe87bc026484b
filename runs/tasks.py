from django.tasks import task

from . import executor


@task()
async def execute_run(run_id: int) -> None:
    await executor.run_execute(run_id=run_id)


@task()
async def execute_lane_group(group_id: int) -> None:
    from . import lanes

    await lanes.lane_group_execute(group_id=group_id)


@task()
async def execute_run_after_session_start(run_id: int) -> None:
    from . import lanes

    await lanes.run_after_session_start(run_id=run_id)
