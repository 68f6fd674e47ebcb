"""ASGI entry point for daphne: HTTP through Django, WebSockets through the one live consumer."""

import os

from smartmine.config import load_config_or_exit

load_config_or_exit()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmine.settings")

from django.core.asgi import get_asgi_application  # noqa: E402 - settings must be valid first

django_asgi_app = get_asgi_application()

import time  # noqa: E402

from channels.auth import AuthMiddlewareStack  # noqa: E402 - needs the app registry
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.http.request import split_domain_port, validate_host  # noqa: E402

from smartmine.platform import metrics  # noqa: E402
from smartmine.platform.heap import freeze_startup_heap  # noqa: E402
from smartmine.platform.logs import asgi_request_id  # noqa: E402
from smartmine.routing import websocket_urlpatterns  # noqa: E402
from smartmine.wsauth import TokenAuthMiddleware  # noqa: E402

#: Paths whose answer never changes while the process runs: after Django's first 200 for one, the same
#: bytes and headers answer it without Django's synchronous stack ("nearly free"), as long as the request
#: is one Django would answer identically (GET or HEAD, no query, no credentials, no CORS origin, an
#: allowed host).
CONSTANT_PATHS = {"/api/version": "version", "/api/version/": "version"}
#: Request headers that may change Django's answer: they send the request through Django every time.
_VARYING_HEADERS = {b"authorization", b"cookie", b"origin"}


class ConstantResponses:
    """Answers CONSTANT_PATHS from the first response Django gave, with a fresh X-Request-ID and the request
    metric, so a monitor polling /api/version costs daphne's work and little more."""

    def __init__(self, app) -> None:
        self.app = app
        self.cached: dict[str, tuple[list, bytes]] = {}

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if path not in CONSTANT_PATHS or not self._constant_request(scope):
            return await self.app(scope, receive, send)
        cached = self.cached.get(path)
        if cached is None:
            return await self.app(scope, receive, self._recording(path, send))
        started = time.perf_counter()
        headers, body = cached
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*headers, (b"X-Request-ID", asgi_request_id(scope))],
            }
        )
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
        metrics.API_LATENCY.labels(view=CONSTANT_PATHS[path], method=scope["method"], status="200").observe(
            time.perf_counter() - started
        )

    @staticmethod
    def _constant_request(scope) -> bool:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or scope.get("query_string"):
            return False
        host = b""
        for name, value in scope.get("headers", ()):
            if name in _VARYING_HEADERS:
                return False
            if name == b"host":
                host = value
        domain, _ = split_domain_port(host.decode("latin-1"))
        return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)

    def _recording(self, path: str, send):
        """`send`, keeping a 200 GET answer of Django's (in one body message) for the next requests."""
        start: dict = {}

        async def recording_send(message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif (
                message["type"] == "http.response.body"
                and start.get("status") == 200
                and not message.get("more_body")
                and message.get("body")
            ):
                headers = [
                    (name, value)
                    for name, value in start.get("headers", ())
                    if name.lower() != b"x-request-id"
                ]
                self.cached[path] = (headers, message["body"])
            await send(message)

        return recording_send


def _fast_lists(app):
    """/api/trucks unfiltered and the current shift's KPIs, from what the tick keeps, before Django
    (smartmine.platform.fastlist)."""
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import parse_qsl

    from django.db import close_old_connections
    from django.urls import resolve

    from analytics.kpis.api import kept_shift_for
    from fleet.api.views import TruckViewSet
    from smartmine.platform import fastlist, readmodel

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastlist")
    page_size = TruckViewSet.pagination_class.default_limit

    def blocking(load):
        """`load` in the fastlist thread, with Django's connection handling around it."""

        def run():
            close_old_connections()
            try:
                return load()
            finally:
                close_old_connections()

        return run

    last = None

    def trucks_page():
        nonlocal last
        last = readmodel.unfiltered_page(TruckViewSet.read_model, page_size=page_size, last=last)
        return last

    trucks = fastlist.Coalesced(blocking(trucks_page), executor)
    kpis: dict[str | None, fastlist.Coalesced] = {}  # per `site` value (None: the default site)

    def kpis_route(query: bytes):
        """`window=shift`, with at most one `site` beside it: anything else is Django's."""
        try:
            params = parse_qsl(query.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return None
        names = sorted(name for name, _ in params)
        if names not in (["window"], ["site", "window"]) or dict(params)["window"] != "shift":
            return None
        site = dict(params).get("site")
        loader = kpis.get(site)
        if loader is None:
            if len(kpis) >= 256:  # many odd site values (unknown slugs): start again, the real ones come back
                kpis.clear()
            loader = kpis[site] = fastlist.Coalesced(blocking(lambda: kept_shift_for(site)), executor)
        return loader

    view_names = {
        path: resolve(path).view_name for path in ("/api/trucks", "/api/trucks/", "/api/mining/kpis")
    }
    view_names["/api/mining/kpis/"] = view_names["/api/mining/kpis"]

    def observe(path: str, status: int, seconds: float) -> None:
        metrics.API_LATENCY.labels(view=view_names[path], method="GET", status=str(status)).observe(seconds)

    return fastlist.FastLists(
        app,
        {
            "/api/trucks": fastlist.no_query(trucks),
            "/api/trucks/": fastlist.no_query(trucks),
            "/api/mining/kpis": kpis_route,
            "/api/mining/kpis/": kpis_route,
        },
        resolve_credential=fastlist.resolve_credential,
        executor=executor,
        observe=observe,
    )


application = ProtocolTypeRouter(
    {
        "http": ConstantResponses(_fast_lists(django_asgi_app)),
        "websocket": AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
freeze_startup_heap()  # each daphne process, once the application is built
