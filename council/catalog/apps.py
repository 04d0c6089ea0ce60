from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CatalogConfig(AppConfig):
    name = "council.catalog"
    label = "catalog"
    verbose_name = "Model catalog"

    def ready(self):
        from council.catalog.bundled import register_after_migrate

        post_migrate.connect(register_after_migrate, sender=self)
