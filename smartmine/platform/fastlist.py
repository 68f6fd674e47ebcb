"""Answers the tick keeps (the unfiltered lists of the live read model, the current shift's KPIs) given
before Django: their bytes at the cost of a dictionary lookup, under the same contract as the DRF view.

`FastLists` wraps the HTTP ASGI app. It answers only what it can answer exactly as the view would: a GET
of a registered path with a query string its route accepts (none for the lists; `window=shift` and an
optional `site` for the KPIs), an acceptable Accept header (none, */* or application/json),
an allowed host, and credentials it has seen Django accept (a token, or a session cookie, or none when
API_ALLOW_ANONYMOUS_READ is on). Everything else, and every first request of its kind, goes to Django
unchanged, so missing or bad credentials get Django's own 401, other methods and parameters Django's own
answers.

Headers are Django's: the first read-model answer (200 or 304) Django gives for each request shape (host,
origin, accept, scheme, auth kind, cookie present) is kept, and later ones replay it with their own ETag,
Content-Length and X-Request-ID. Bodies are the read model's, with readmodel's freshness check (the site
versions from PostgreSQL, the generations from Redis): requests waiting at once share one check, always one
that started after they arrived, so no answer is older than the request.

Revocation: a credential Django accepted is trusted for AUTH_TTL_S in each web process, so a deleted token,
a deactivated user, a changed password or a closed session still reads lists from this path for up to
AUTH_TTL_S seconds; a credential never resolved is always checked by Django.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.utils.http import parse_etags

from smartmine.platform.logs import asgi_request_id

#: Seconds a credential Django accepted is trusted without asking the database again (the revocation delay).
AUTH_TTL_S = 5.0
#: Accept headers under which DRF picks the JSON renderer with no parameters (anything else goes to Django).
_JSON_ACCEPTS = {b"", b"*/*", b"application/json"}
#: Request shapes whose headers are kept; more distinct shapes (odd hosts or origins) go to Django.
MAX_SHAPES = 64

Snapshot = tuple[str, bytes]  # (ETag, the whole 200 body)
Scope = dict[str, Any]
Loader = Callable[[], Awaitable[Snapshot | None]]
#: A path's route: the loader for a request's raw query string, None when Django must answer that query.
Route = Callable[[bytes], Loader | None]


def no_query(loader: Loader) -> Route:
    """The route of an unfiltered list: only the bare path."""
    return lambda query: loader if not query else None


class Coalesced:
    """Calls a blocking `load` in one worker thread for everyone awaiting it: a caller waits for the next
    call that starts after it arrived, so callers arriving together share one call and none gets an
    answer loaded before it asked."""

    def __init__(self, load: Callable[[], Any], executor: ThreadPoolExecutor) -> None:
        self.load = load
        self.executor = executor
        self._waiting: asyncio.Future | None = None
        self._running = False
        self._task: asyncio.Future | None = None  # held, so the running loop is not collected

    async def __call__(self) -> Any:
        if self._waiting is None:
            self._waiting = asyncio.get_running_loop().create_future()
            if not self._running:
                self._running = True
                self._task = asyncio.ensure_future(self._run())
        return await asyncio.shield(self._waiting)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting is not None:
                future, self._waiting = self._waiting, None
                try:
                    future.set_result(await loop.run_in_executor(self.executor, self.load))
                except Exception as error:  # handed to every waiter, who falls back
                    future.set_exception(error)
                    future.exception()  # retrieved: no "never retrieved" warning when nobody waits
        finally:
            self._running = False


class FastLists:
    """The ASGI wrapper: `paths` maps a path to its route, which picks a coalesced snapshot loader for the
    query string (a loader's None: go to Django)."""

    def __init__(
        self,
        app: Callable[..., Awaitable[None]],
        paths: dict[str, Route],
        *,
        resolve_credential: Callable[[str, str], bool],
        executor: ThreadPoolExecutor,
        observe: Callable[[str, int, float], None] | None = None,
        auth_ttl_s: float = AUTH_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.paths = paths
        self.resolve_credential = resolve_credential
        self.executor = executor
        self.observe = observe
        self.auth_ttl_s = auth_ttl_s
        self.clock = clock
        self.credentials: dict[tuple[str, str], float] = {}  # (kind, secret) -> trusted until
        self.checking: dict[tuple[str, str], asyncio.Future] = {}  # credential -> its check under way
        self.shapes: dict[tuple, list[tuple[bytes, bytes]]] = {}  # (path, shape, status) -> headers
        self.served = 0  # answers given here (the rest went to Django)

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        route = self.paths.get(scope.get("path", "")) if scope["type"] == "http" else None
        load = route(scope.get("query_string", b"")) if route is not None else None
        request = _plain_get(scope) if load is not None else None
        if request is None:
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        shape, credential, if_none_match = request
        if credential is not None and not await self._trusted(credential):
            return await self.app(scope, receive, send)  # Django checks it (and refuses it if bad)
        try:
            snapshot = await load()
        except Exception:  # PostgreSQL or Redis trouble: Django's path decides
            snapshot = None
        if snapshot is None:
            return await self.app(scope, receive, send)
        etag, body = snapshot
        status = 304 if if_none_match and _matches(etag, if_none_match) else 200
        key = (scope["path"], shape, status)
        headers = self.shapes.get(key)
        if headers is None:
            return await self.app(scope, receive, self._recording(key, send))
        if status == 304:
            body = b""
        # The headers that differ per answer; the rest of the kept answer is replayed as it is.
        own = {b"etag": etag.encode(), b"content-length": b"%d" % len(body)}
        own[b"x-request-id"] = asgi_request_id(scope)
        answer = [(name, own.get(name.lower(), value)) for name, value in headers]
        await send({"type": "http.response.start", "status": status, "headers": answer})
        await send({"type": "http.response.body", "body": body})
        self.served += 1
        if self.observe is not None:
            self.observe(scope["path"], status, time.perf_counter() - started)

    async def _trusted(self, credential: tuple[str, str]) -> bool:
        """Whether Django accepts this credential: remembered for auth_ttl_s once it did. Requests with
        the same credential share one check (a dashboard's many requests when its entry lapses)."""
        if self.credentials.get(credential, 0.0) > self.clock():
            return True
        checking = self.checking.get(credential)
        if checking is None:
            checking = asyncio.ensure_future(self._check(credential))
            self.checking[credential] = checking
            checking.add_done_callback(lambda _: self.checking.pop(credential, None))
        return await asyncio.shield(checking)

    async def _check(self, credential: tuple[str, str]) -> bool:
        asked = self.clock()  # trusted from when the database was asked
        loop = asyncio.get_running_loop()
        try:
            accepted = await loop.run_in_executor(self.executor, self.resolve_credential, *credential)
        except Exception:  # the database is down: Django answers as it does then
            return False
        if accepted:
            if len(self.credentials) > 10_000:  # expired entries of rotated tokens and closed sessions
                self.credentials = {k: until for k, until in self.credentials.items() if until > asked}
            self.credentials[credential] = asked + self.auth_ttl_s
        return accepted

    def _recording(self, key: tuple, send: Callable) -> Callable[[dict], Awaitable[None]]:
        """`send`, keeping the headers of Django's read-model answer (it has an ETag) for this shape."""

        async def recording_send(message: dict) -> None:
            if message["type"] == "http.response.start" and message["status"] == key[2]:
                headers = list(message.get("headers", ()))
                names = {name.lower() for name, _ in headers}
                if b"etag" in names and b"set-cookie" not in names and len(self.shapes) < MAX_SHAPES:
                    self.shapes[key] = headers
            await send(message)

        return recording_send


def _plain_get(scope: Scope) -> tuple[tuple, tuple[str, str] | None, str] | None:
    """(shape, credential, If-None-Match) of a request this path may answer, None for one Django must.

    The shape is every request header that can change Django's headers here; the credential is what DRF
    would authenticate with (a token, else the session cookie), None for an anonymous request."""
    if scope["method"] != "GET":
        return None
    headers: dict[bytes, list[bytes]] = {}
    for name, value in scope.get("headers", ()):
        headers.setdefault(name, []).append(value)
    host, origin, accept = (b",".join(headers.get(name, [])) for name in (b"host", b"origin", b"accept"))
    if accept not in _JSON_ACCEPTS or len(headers.get(b"host", [])) != 1:
        return None
    domain, _ = split_domain_port(host.decode("latin-1"))
    if not (domain and validate_host(domain, settings.ALLOWED_HOSTS)):
        return None
    authorization = headers.get(b"authorization", [])
    cookie = b"; ".join(headers.get(b"cookie", [])).decode("latin-1")
    credential: tuple[str, str] | None = None
    if authorization:
        parts = authorization[0].split()
        token_scheme = len(parts) == 2 and parts[0].lower() == b"token" and parts[1].isascii()
        if len(authorization) != 1 or not token_scheme:
            return None  # not DRF's token scheme (or one it refuses): Django decides
        credential = ("token", parts[1].decode())
    elif session := parse_cookie(cookie).get(settings.SESSION_COOKIE_NAME) if cookie else None:
        credential = ("session", session)
    elif not settings.API_ALLOW_ANONYMOUS_READ:
        return None  # Django's 401
    proto = b",".join(headers.get(b"x-forwarded-proto", []))
    kind = credential[0] if credential else "anonymous"
    shape = (host, origin, accept, proto, scope.get("scheme", "http"), kind, bool(cookie))
    if_none_match = b",".join(headers.get(b"if-none-match", [])).decode("latin-1")
    return shape, credential, if_none_match


def _matches(etag: str, if_none_match: str) -> bool:
    """readmodel.list_response's 304 rule."""
    return etag in parse_etags(if_none_match) or if_none_match.strip() == "*"


def resolve_credential(kind: str, secret: str) -> bool:
    """Whether DRF would authenticate a user with this token or session (blocking: runs in a thread)."""
    from django.db import close_old_connections

    close_old_connections()
    try:
        if kind == "token":
            from rest_framework.authentication import TokenAuthentication
            from rest_framework.exceptions import AuthenticationFailed

            try:
                user, _ = TokenAuthentication().authenticate_credentials(secret)
            except AuthenticationFailed:
                return False
            return bool(user.is_authenticated)
        from importlib import import_module

        from django.contrib.auth import get_user
        from django.http import HttpRequest

        request = HttpRequest()
        request.session = import_module(settings.SESSION_ENGINE).SessionStore(secret)
        return bool(get_user(request).is_authenticated)
    finally:
        close_old_connections()
