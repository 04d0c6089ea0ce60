from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CatalogConfig(AppConfig):
    name = "council.catalog"
    label = "catalog"
    verbose_name = "Model catalog"

    def ready(self):
        from celery.signals import worker_ready

        from council.catalog import checks  # noqa: F401  registers the system checks
        from council.catalog.bundled import register_after_migrate
        from council.catalog import preload
        from council.catalog.heartbeat import on_worker_ready

        post_migrate.connect(register_after_migrate, sender=self)
        worker_ready.connect(on_worker_ready, weak=False, dispatch_uid="council.catalog.heartbeat")
        worker_ready.connect(preload.on_worker_ready, weak=False, dispatch_uid="council.catalog.preload")
