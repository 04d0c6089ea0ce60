from django.urls import path

from council.arena import api, views

urlpatterns = [
    path("arena/", views.home, name="arena"),
    path("arena/new", views.start, name="arena-start"),
    path("arena/leaderboard/", views.leaderboard_page, name="arena-leaderboard"),
    path("arena/b/<uuid:battle_id>/", views.battle_page, name="arena-battle"),
    path("arena/b/<uuid:battle_id>/vote", views.vote, name="arena-vote"),
    path("arena/b/<uuid:battle_id>/follow-up", views.follow_up, name="arena-follow-up"),
    path("c/responses/<uuid:response_id>/prefer", views.prefer, name="comparison-prefer"),
    path("api/battles", api.create_battle, name="api-battles"),
    path("api/battles/<uuid:battle_id>", api.battle_detail, name="api-battle"),
    path("api/battles/<uuid:battle_id>/vote", api.vote, name="api-battle-vote"),
    path("api/battles/<uuid:battle_id>/follow-up", api.follow_up, name="api-battle-follow-up"),
    path("api/battles/<uuid:battle_id>/cancel", api.cancel, name="api-battle-cancel"),
    path("api/battles/<uuid:battle_id>/events", api.battle_events, name="api-battle-events"),
    path("api/leaderboard", api.leaderboard_json, name="api-leaderboard"),
    path("api/responses/<uuid:response_id>/prefer", api.prefer, name="api-response-prefer"),
]
