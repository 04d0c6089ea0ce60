"""The OpenAPI document (council/openapi.py) is valid, served, and true to the URLconf."""

import re
import uuid

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver
from openapi_spec_validator import validate

from council.accounts.models import ApiToken
from council.openapi import document

METHODS = ("get", "post", "put", "patch", "delete")


def api_routes() -> set[str]:
    """Every URL pattern under /api/, as an OpenAPI path template (`<uuid:x>` -> `{x}`)."""

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            else:
                yield route

    routes = {"/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route) for route in walk(get_resolver().url_patterns, "")}
    return {route for route in routes if route.startswith("/api/")}


def test_the_document_is_valid_openapi_3_1():
    validate(document())


def test_it_is_served_as_json_without_logging_in(db):
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json() == document()


def test_every_api_url_pattern_is_documented_and_every_documented_path_is_routed():
    documented = set(document()["paths"])
    routes = api_routes()
    assert routes - documented == set(), "routes missing from council/openapi.py"
    assert documented - routes == set(), "documented paths with no URL pattern"


@pytest.mark.django_db
def test_each_route_takes_exactly_the_methods_it_documents(alice):
    """A documented method is never a 405; any other is. Unknown ids make this cheap: no object exists."""
    _, raw = ApiToken.issue(alice, "methods")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for path, item in document()["paths"].items():
        url = re.sub(r"\{\w+\}", lambda _: str(uuid.uuid4()), path)
        for method in METHODS:
            status = client.generic(method.upper(), url, data=b"{}", content_type="application/json").status_code
            if method in item:
                assert status != 405, (method, path)
            else:
                assert status == 405, (method, path, status)
