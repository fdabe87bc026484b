"""Django's debug error page without secrets.

`make run` serves with DEBUG on, so an error shows Django's technical page: a traceback with
every frame's local variables, the request and the settings. Django hides settings whose names
look secret (KEY, TOKEN, PASS...) and nothing else: a frame holding an unsealed MCP header, an
API key or a share token would print it, and so would a REDIS_URL or DATABASE_URL with a
password in it, and so would a posted form (an MCP server's headers) or an Authorization header.
Here every local variable and every posted field is shown by name only, and settings and
request headers that carry URLs, hosts or credentials are hidden as well; the traceback (files,
lines, code) stays.
"""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter


class SecretSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|COOKIE|AUTH|URL|DSN|HOSTS|DATABASES|CHANNEL_LAYERS",
        flags=re.IGNORECASE,
    )

    def get_traceback_frame_variables(self, request, tb_frame):
        return [(name, self.cleansed_substitute) for name in tb_frame.f_locals]

    def get_post_parameters(self, request):
        if request is None:
            return {}
        cleansed = request.POST.copy()
        for name in cleansed:
            cleansed[name] = self.cleansed_substitute
        return cleansed
