"""Site-wide response headers: the Content-Security-Policy."""

from django.core.exceptions import DisallowedHost

# A second layer under the sanitised Markdown: only this site's own script files run (no
# inline scripts or handlers; the templates have none, htmx is served from static/).
# Inline styles stay allowed: htmx adds its indicator style, and the admin uses style attributes.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def content_security_policy(request) -> str:
    """The policy, with this host's WebSocket URLs (older browsers do not count ws: as 'self')."""
    try:
        host = request.get_host()
    except DisallowedHost:
        return f"{POLICY}; connect-src 'self'"
    return f"{POLICY}; connect-src 'self' ws://{host} wss://{host}"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", content_security_policy(request))
        return response
