from django.urls import path

from council.catalog import health

urlpatterns = [
    path("health/", health.health, name="health"),
]
