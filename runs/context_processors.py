from django.conf import settings

from sandboxes.isolation import isolation_note


def dashboard(request) -> dict:
    return {
        "openai_key_set": settings.OPENAI_API_KEY_SET,
        "e2b_key_set": settings.E2B_API_KEY_SET,
        # Called only by the pages that show it (the local backend's warnings).
        "local_isolation": isolation_note,
    }
