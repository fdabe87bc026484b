from django.apps import AppConfig


class ComparisonsConfig(AppConfig):
    name = "comparisons"
    verbose_name = "Comparisons and shares"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from lib.task_backends import on_server_loop_start
        from sandboxes import hooks
        from sandboxes.grants import register_grant_rule
        from sandboxes.static_sites import register_static_source

        from . import snapshots
        from .access import share_opens_preview
        from .models import Snapshot

        # A grant naming a share link opens the previews that link shares, and, once their
        # sandbox stops serving them, the share's snapshots of them.
        register_grant_rule("s", share_opens_preview)
        register_static_source("s", snapshots.share_static_site)
        # A sandbox that live shares show is snapshotted before it stops (in the background).
        hooks.register_stop_delay(snapshots.session_snapshots_pending)
        hooks.register_delete_refusal(snapshots.session_shares_live)
        hooks.register_before_stop(snapshots.session_snapshots_take)
        post_delete.connect(snapshots.snapshot_files_deleted, sender=Snapshot)
        on_server_loop_start(snapshots.reap_snapshots_forever)
