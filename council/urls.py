from django.contrib import admin
from django.urls import include, path

from council import health, openapi

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/openapi.json", openapi.openapi_json, name="api-openapi"),
    path("accounts/", include("council.accounts.urls")),
    path("health/", health.health, name="health"),
    path("", include("council.comparisons.urls")),
    path("", include("council.arena.urls")),
]
