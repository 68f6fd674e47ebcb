"""ASGI entry point for daphne: HTTP through Django, WebSockets through Channels."""

import os

from smartmine.config import load_config_or_exit

load_config_or_exit()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmine.settings")

from django.core.asgi import get_asgi_application  # noqa: E402 - settings must be valid first

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

application = ProtocolTypeRouter({"http": django_asgi_app})
