from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("council.accounts.urls")),
    path("", include("council.catalog.urls")),
    path("", include("council.comparisons.urls")),
]
