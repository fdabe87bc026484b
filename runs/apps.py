from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Agent runs"

    def ready(self) -> None:
        from django.tasks.signals import task_enqueued

        from lib.task_backends import on_server_loop_start
        from lib.task_wakeup import notify_workers
        from sandboxes import hooks

        from . import reaper, services

        # Runs hold sandboxes: a busy session is not paused, and shutting one down stops its
        # runs first. Sandboxes ask through these hooks and never import runs.
        hooks.register_busy_check(services.session_runs_busy)
        hooks.register_before_shutdown(services.session_runs_stop)
        on_server_loop_start(reaper.reap_forever)
        # TASKS_BACKEND=db on PostgreSQL: a queued task wakes the workers (lib/task_wakeup.py).
        task_enqueued.connect(notify_workers, dispatch_uid="notify-workers")
