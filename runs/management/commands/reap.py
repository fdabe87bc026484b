from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand

from runs.reaper import reap_once


class Command(BaseCommand):
    help = (
        "One reaper pass: stale runs become interrupted, dead previews failed, stray preview "
        "processes and orphaned local workspaces are removed. The server runs it periodically; "
        "run it from cron where only workers run."
    )

    def handle(self, *args, **options):
        for what, count in async_to_sync(reap_once)().items():
            self.stdout.write(f"{what}: {count}")
