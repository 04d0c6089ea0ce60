from django.apps import AppConfig


class ComparisonsConfig(AppConfig):
    name = "council.comparisons"
    label = "comparisons"
