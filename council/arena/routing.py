from django.urls import path

from council.arena.consumers import BattleConsumer

websocket_urlpatterns = [
    path("ws/battles/<uuid:battle_id>/", BattleConsumer.as_asgi()),
]
