"""Background tasks of comparisons: each calls the service of its name."""

from django.tasks import task


@task()
async def version_build_task(version_id: int) -> None:
    from .services import version_build

    await version_build(version_id=version_id)
