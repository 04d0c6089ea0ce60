from django.apps import AppConfig


class ComparisonsConfig(AppConfig):
    name = "council.comparisons"
    label = "comparisons"

    def ready(self):
        from celery.signals import worker_ready

        worker_ready.connect(_start_sweeper, weak=False, dispatch_uid="council.comparisons.sweeper")


def _start_sweeper(**kwargs):
    from django.conf import settings

    from council.comparisons import sweeper

    if settings.COUNCIL_SWEEPER:
        sweeper.start()
