from django.tasks import task

from . import executor


@task()
async def execute_run(run_id: int) -> None:
    await executor.run_execute(run_id=run_id)
