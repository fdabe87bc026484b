from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Agent runs"

    def ready(self) -> None:
        from . import reaper
        from .task_backends import on_server_loop_start

        on_server_loop_start(reaper.reap_forever)
