"""Token authentication for WebSockets, beside the session cookie: `?token=KEY` or `Authorization: Token KEY`.

Browsers cannot set headers on a WebSocket, so dashboards pass their API token in the query string; other
clients may use the same header as the REST API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware


@database_sync_to_async
def _user_for_token(key: str):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token and token.user.is_active else None


def _token_from_scope(scope: dict[str, Any]) -> str | None:
    headers = dict(scope.get("headers", []))
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    if authorization.lower().startswith("token "):
        return authorization[6:].strip() or None
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0] if values else None


class TokenAuthMiddleware(BaseMiddleware):
    """Replaces an anonymous scope user with the token's user when a valid token is given."""

    async def __call__(self, scope, receive, send):
        key = _token_from_scope(scope)
        if key and not getattr(scope.get("user"), "is_authenticated", False):
            user = await _user_for_token(key)
            if user is not None:
                scope = {**scope, "user": user}
        return await super().__call__(scope, receive, send)
