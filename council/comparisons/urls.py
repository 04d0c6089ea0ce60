from django.urls import path, register_converter

from council.comparisons import api, sharing, sse, views


class ExportFormat:
    regex = "json|md|csv"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(ExportFormat, "fmt")

urlpatterns = [
    path("", views.home, name="home"),
    path("comparisons/new", views.submit, name="submit"),
    path("history/", views.history, name="history"),
    path("c/<uuid:comparison_id>/", views.comparison_page, name="comparison"),
    path("c/<uuid:comparison_id>/follow-up", views.follow_up, name="comparison-follow-up"),
    path("c/<uuid:comparison_id>/delete", views.delete, name="comparison-delete"),
    path("c/<uuid:comparison_id>/share", sharing.share, name="comparison-share"),
    path("c/<uuid:comparison_id>/unshare", sharing.unshare, name="comparison-unshare"),
    path("c/<uuid:comparison_id>/export.<fmt:fmt>", sharing.export, name="comparison-export"),
    path("s/<str:token>/", sharing.shared_page, name="shared"),
    path("s/<str:token>/export.<fmt:fmt>", sharing.shared_export, name="shared-export"),
    path("api/models", api.models, name="api-models"),
    path("api/comparisons", api.comparisons, name="api-comparisons"),
    path("api/comparisons/<uuid:comparison_id>", api.comparison_detail, name="api-comparison"),
    path("api/comparisons/<uuid:comparison_id>/events", sse.comparison_events, name="api-comparison-events"),
    path("api/comparisons/<uuid:comparison_id>/follow-up", api.follow_up, name="api-comparison-follow-up"),
    path("api/comparisons/<uuid:comparison_id>/cancel", api.cancel_comparison, name="api-comparison-cancel"),
    path("api/responses/<uuid:response_id>/cancel", api.cancel_response, name="api-response-cancel"),
    path("api/responses/<uuid:response_id>/regenerate", api.regenerate_response, name="api-response-regenerate"),
]
