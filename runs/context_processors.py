from django.conf import settings


def dashboard(request) -> dict:
    return {
        "openai_key_set": settings.OPENAI_API_KEY_SET,
        "e2b_key_set": settings.E2B_API_KEY_SET,
    }
