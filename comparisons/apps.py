from django.apps import AppConfig


class ComparisonsConfig(AppConfig):
    name = "comparisons"
    verbose_name = "Comparisons and shares"

    def ready(self) -> None:
        from sandboxes.grants import register_grant_rule

        from .access import share_opens_preview

        # A grant naming a share link opens the previews that link shares.
        register_grant_rule("s", share_opens_preview)
