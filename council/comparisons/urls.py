from django.urls import path

from council.comparisons import api, sse, views

urlpatterns = [
    path("", views.home, name="home"),
    path("comparisons/new", views.submit, name="submit"),
    path("c/<uuid:comparison_id>/", views.comparison_page, name="comparison"),
    path("api/models", api.models, name="api-models"),
    path("api/comparisons", api.create_comparison, name="api-comparisons"),
    path("api/comparisons/<uuid:comparison_id>", api.comparison_detail, name="api-comparison"),
    path("api/comparisons/<uuid:comparison_id>/events", sse.comparison_events, name="api-comparison-events"),
    path("api/comparisons/<uuid:comparison_id>/cancel", api.cancel_comparison, name="api-comparison-cancel"),
    path("api/responses/<uuid:response_id>/cancel", api.cancel_response, name="api-response-cancel"),
    path("api/responses/<uuid:response_id>/regenerate", api.regenerate_response, name="api-response-regenerate"),
]
