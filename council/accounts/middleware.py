"""Authenticates `Authorization: Bearer <token>` requests to the JSON API."""

from django.http import JsonResponse

from council.accounts.models import ApiToken


class ApiTokenMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and request.path.startswith("/api/"):
            user = ApiToken.user_for(header.removeprefix("Bearer ").strip())
            if user is None:
                return JsonResponse({"error": "Invalid or revoked API token."}, status=401)
            request.user = user
            # A bearer token is not sent by browsers on their own, so CSRF does not apply.
            request._dont_enforce_csrf_checks = True
        return self.get_response(request)
