from django.apps import AppConfig


class ArenaConfig(AppConfig):
    name = "council.arena"
    label = "arena"
    verbose_name = "Arena"
