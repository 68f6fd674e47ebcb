"""ASGI entry point for daphne: HTTP through Django, WebSockets through the one live consumer."""

import os

from smartmine.config import load_config_or_exit

load_config_or_exit()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmine.settings")

from django.core.asgi import get_asgi_application  # noqa: E402 - settings must be valid first

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402 - needs the app registry
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from smartmine.routing import websocket_urlpatterns  # noqa: E402
from smartmine.wsauth import TokenAuthMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
