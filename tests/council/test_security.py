"""Security properties across every route: ownership, CSRF, staff-only pages, hostile input."""

import json
import re

import pytest
from django.test import Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from council.accounts.models import ApiToken
from council.comparisons.models import Comparison, Response

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices(alice, bundled):
    comparison = Comparison.objects.create(owner=alice, prompt="alice's secret prompt", mode="fast")
    response = Response.objects.create(comparison=comparison, model=bundled["smollm2-135m-instruct"], mode="fast",
                                       status="done", text="alice's secret answer")
    token, _ = ApiToken.issue(alice, "alice's token")
    return comparison, response, token


def client_for(user, csrf=False):
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def routes(comparison, response, token):
    """(method, path) of every route that names one of alice's objects."""
    c, r = comparison.id, response.id
    return [
        ("get", f"/c/{c}/"), ("post", f"/c/{c}/delete"), ("post", f"/c/{c}/share"), ("post", f"/c/{c}/unshare"),
        ("get", f"/c/{c}/export.json"), ("get", f"/c/{c}/export.md"), ("get", f"/c/{c}/export.csv"),
        ("get", f"/api/comparisons/{c}"), ("post", f"/api/comparisons/{c}/cancel"),
        ("post", f"/api/responses/{r}/cancel"), ("post", f"/api/responses/{r}/regenerate"),
        ("post", f"/accounts/tokens/{token.id}/revoke/"),
    ]


def test_bob_gets_404_on_every_route_naming_alices_objects_and_changes_nothing(alices, bob):
    comparison, response, token = alices
    bob_client = client_for(bob)
    for method, path in routes(*alices):
        result = getattr(bob_client, method)(path)
        assert result.status_code == 404, (method, path, result.status_code)
        assert b"secret" not in result.content, path
    comparison.refresh_from_db()
    response.refresh_from_db()
    assert comparison.share_token in (None, "") and response.status == "done"
    assert ApiToken.objects.filter(id=token.id).exists()
    assert "alice's secret prompt" not in bob_client.get("/history/").content.decode()


def test_bobs_api_token_sees_nothing_of_alices(alices, bob):
    comparison, response, _ = alices
    _, raw = ApiToken.issue(bob, "bob")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert Client().get(f"/api/comparisons/{comparison.id}", **auth).status_code == 404
    assert Client().post(f"/api/responses/{response.id}/regenerate", **auth).status_code == 404


def test_every_form_and_session_api_write_needs_the_csrf_token(alices, alice):
    comparison, response, token = alices
    client = client_for(alice, csrf=True)
    posts = [path for method, path in routes(*alices) if method == "post"]
    posts += ["/comparisons/new", "/accounts/tokens/", "/accounts/logout/", "/api/comparisons"]
    for path in posts:
        assert client.post(path).status_code == 403, path
    assert Comparison.objects.filter(id=comparison.id).exists()
    assert Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "alice"}).status_code == 403


def test_staff_pages_turn_normal_users_away(alice, admin):
    client = client_for(alice)
    for path in ("/admin/", "/admin/catalog/languagemodel/", "/health/"):
        result = client.get(path)
        assert result.status_code in (302, 404), path
        assert result.status_code == 404 or "login" in result["Location"], path
    assert client_for(admin).get("/admin/catalog/languagemodel/").status_code == 200


def test_share_links_are_read_only(alices, alice):
    comparison, response, _ = alices
    client_for(alice).post(f"/c/{comparison.id}/share")
    comparison.refresh_from_db()
    anonymous = Client()
    assert anonymous.get(f"/s/{comparison.share_token}/").status_code == 200
    assert anonymous.post(f"/s/{comparison.share_token}/").status_code in (403, 405)
    assert anonymous.post(f"/api/responses/{response.id}/regenerate").status_code == 401
    assert anonymous.get("/s/not-a-token/").status_code == 404


def test_api_tokens_are_never_stored_or_shown_again(alice):
    _, raw = ApiToken.issue(alice, "once")
    page = client_for(alice).get("/accounts/tokens/").content.decode()
    assert raw not in page
    assert not ApiToken.objects.filter(key_hash=raw).exists()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
payloads = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "prompt": json_values | st.text(max_size=200),
            "models": json_values | st.lists(st.sampled_from(["smollm2-135m-instruct", "gemma-3-270m", "x"])),
            "mode": json_values | st.sampled_from(["fast", "thinking", "both"]),
            "system_prompt": json_values,
            "max_tokens": json_values,
            "temperature": json_values,
        },
    ),
)


@override_settings(COUNCIL_RATE_LIMIT_PER_MINUTE=100000, COUNCIL_MAX_ACTIVE_RESPONSES=100000)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
def test_hostile_json_never_gets_a_500_and_never_half_creates(alice, bundled, payload):
    before = (Comparison.objects.count(), Response.objects.count())
    result = client_for(alice).post("/api/comparisons", data=json.dumps(payload), content_type="application/json")
    assert result.status_code in (201, 400), (payload, result.status_code)
    assert "error" in result.json() or result.status_code == 201
    created = Comparison.objects.count() - before[0]
    assert created == (1 if result.status_code == 201 else 0)
    if result.status_code == 400:
        assert Response.objects.count() == before[1]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300), auth=st.text(max_size=60))
def test_hostile_bytes_and_headers_get_clear_4xx(bundled, body, auth):
    header = f"Bearer {auth}".encode("latin-1", "replace").decode("latin-1")
    result = Client().post("/api/comparisons", data=body, content_type="application/json",
                           HTTP_AUTHORIZATION=header)
    assert result.status_code in (400, 401, 403), result.status_code
    assert result["Content-Type"].startswith("application/json")


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def test_every_page_has_a_content_security_policy_its_html_keeps(alices, alice, admin):
    """script-src 'self' holds only if no page carries an inline script or event handler."""
    comparison, response, _ = alices
    pages = [(Client(), "/accounts/login/"), (client_for(alice), "/"), (client_for(alice), f"/c/{comparison.id}/"),
             (client_for(alice), "/history/"), (client_for(alice), "/accounts/tokens/"), (client_for(admin), "/health/"),
             (client_for(admin), "/admin/"), (client_for(admin), f"/admin/catalog/languagemodel/{response.model_id}/change/"),
             (client_for(admin), "/admin/catalog/languagemodel/")]
    for client, path in pages:
        page = client.get(path, HTTP_HOST="localhost")
        assert page.status_code == 200, path
        policy = page["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "ws://localhost" in policy, "the page's WebSocket is allowed"
        html = page.content.decode()
        assert not INLINE_SCRIPT.search(html), (path, INLINE_SCRIPT.search(html).group(0))
        assert not INLINE_HANDLER.search(html), (path, INLINE_HANDLER.search(html).group(0))

