from django.tasks import task

from . import services


@task()
async def start_session(session_id: int) -> None:
    await services.session_start(session_id=session_id)
