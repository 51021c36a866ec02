"""One ASGI app for HTTP and WebSocket, served by uvicorn."""

import gc
import importlib
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telehealth.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from telehealth.routing import websocket_urlpatterns  # noqa: E402

# The ICD-10-CM tables billing searches (billing.diagnoses imports them on first use, as every
# command need not pay their 2.5 s): the web application reads them as it starts instead, so no
# clinician's first search waits for them.
importlib.import_module("simple_icd_10_cm")

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

# What is loaded by now (Django, the apps, the ICD-10-CM tables: some 800,000 objects) lives as
# long as the process. Frozen, the cyclic garbage collector no longer walks it: a full
# collection, which pauses every request and socket of the process, took about 210 ms, and
# takes under 1 ms.
gc.freeze()
