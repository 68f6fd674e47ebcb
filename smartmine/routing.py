"""WebSocket routes: the original client's root path (on WEBSOCKET_PORT) and /ws/live/ on the API port."""

from django.urls import re_path

from smartmine.consumers import LiveConsumer

websocket_urlpatterns = [
    re_path(r"^$", LiveConsumer.as_asgi()),
    re_path(r"^ws/live/?$", LiveConsumer.as_asgi()),
]
