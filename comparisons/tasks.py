"""Background tasks of comparisons: each calls the service of its name."""

from django.tasks import task


@task()
async def version_build_task(version_id: int) -> None:
    from .services import version_build

    await version_build(version_id=version_id)


@task()
async def snapshot_build_task(snapshot_id: int) -> None:
    from .snapshots import snapshot_build

    await snapshot_build(snapshot_id=snapshot_id)
