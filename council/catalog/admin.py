from django.contrib import admin

from council.catalog.models import LanguageModel


@admin.register(LanguageModel)
class LanguageModelAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "backend", "queue", "enabled", "order"]
    list_editable = ["enabled", "order"]
    list_filter = ["backend", "queue", "enabled"]
    search_fields = ["name", "slug", "source"]
    prepopulated_fields = {"slug": ["name"]}
