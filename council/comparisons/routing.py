from django.urls import path

from council.comparisons.consumers import ComparisonConsumer

websocket_urlpatterns = [
    path("ws/comparisons/<uuid:comparison_id>/", ComparisonConsumer.as_asgi()),
]
