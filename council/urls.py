from django.contrib import admin
from django.urls import include, path

from council import openapi

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/openapi.json", openapi.openapi_json, name="api-openapi"),
    path("accounts/", include("council.accounts.urls")),
    path("", include("council.catalog.urls")),
    path("", include("council.comparisons.urls")),
    path("", include("council.arena.urls")),
]
