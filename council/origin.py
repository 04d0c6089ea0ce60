"""The WebSocket's origin check: scheme, host and port, as Django's CSRF check compares them."""

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _is_secure(scope) -> bool:
    """As `HttpRequest.is_secure()`: the connection's scheme, or the proxy header named in SECURE_PROXY_SSL_HEADER."""
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure_value = settings.SECURE_PROXY_SSL_HEADER
        name = header.removeprefix("HTTP_").replace("_", "-").lower().encode()
        value = _header(scope, name)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") in ("wss", "https")


def origin_allowed(scope) -> bool:
    """True if the upgrade's Origin is this site itself (same scheme, host and port) or a CSRF-trusted origin."""
    origin = _header(scope, b"origin")
    host = _header(scope, b"host")
    if not origin or not host:
        return False
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, allowed_hosts):
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    return origin == f"{'https' if _is_secure(scope) else 'http'}://{host}"


class SameOriginValidator:
    """ASGI middleware: refuses a WebSocket whose Origin is not this site (another port or scheme included)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
