import gc
import os

from django.core.asgi import get_asgi_application

os.umask(0o077)  # the server's files are its own (as in manage.py): sandboxes/isolation.py
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

import runs.executor  # noqa: E402, F401 - loaded before the freeze below
from lib.origins import OriginValidator  # noqa: E402
from lib.task_backends import remember_server_loop  # noqa: E402
from lib.ws_auth import WebsocketAuthStack  # noqa: E402
from runs.routing import websocket_urlpatterns  # noqa: E402
from runs.warmup import warm_up  # noqa: E402
from sandboxes.proxy import PreviewProxy  # noqa: E402

# The first run's and the first run page's one-time work (pydantic's validators of the openai
# types, the state card's templates), done before serving and frozen with the rest below.
warm_up()

# Move everything imported so far (Django, the SDK) out of the garbage collector's reach: with
# it, a full collection under load paused the event loop for ~300 ms (bench/events.py).
gc.collect()
gc.freeze()

application = remember_server_loop(
    PreviewProxy(
        ProtocolTypeRouter(
            {
                "http": django_asgi_app,
                # The whole origin (scheme, host, port), not only its host: lib/origins.py.
                "websocket": OriginValidator(WebsocketAuthStack(URLRouter(websocket_urlpatterns))),
            }
        )
    )
)
