"""The pages: ownership and the column contract of DESIGN.md."""

import pytest
from django.test import Client

from council.comparisons.models import Comparison, Response

pytestmark = pytest.mark.django_db


@pytest.fixture
def comparison(alice, bundled):
    comparison = Comparison.objects.create(owner=alice, prompt="<script>alert(1)</script>", mode="fast")
    Response.objects.create(comparison=comparison, model=bundled["smollm2-135m-instruct"], mode="fast",
                            status="done", text="<img src=x onerror=alert(2)>")
    return comparison


def test_the_owner_sees_one_column_per_response_with_its_status(alice, comparison):
    client = Client()
    client.force_login(alice)
    html = client.get(f"/c/{comparison.id}/").content.decode()
    response = comparison.responses.get()
    assert f'data-response-id="{response.id}"' in html and 'data-status="done"' in html
    assert f'ws-connect="/ws/comparisons/{comparison.id}/"' in html


def test_prompts_and_outputs_are_escaped(alice, comparison):
    client = Client()
    client.force_login(alice)
    html = client.get(f"/c/{comparison.id}/").content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_bob_gets_404_for_alices_comparison_page(bob, comparison):
    client = Client()
    client.force_login(bob)
    assert client.get(f"/c/{comparison.id}/").status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(comparison):
    response = Client().get(f"/c/{comparison.id}/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_first_account_becomes_the_administrator_and_the_second_does_not(db, django_user_model):
    client = Client()
    for name in ("first", "second"):
        response = client.post("/accounts/signup/", {"username": name, "password1": "a-long-pass-9", "password2": "a-long-pass-9"})
        assert response.status_code == 302
        client.post("/accounts/logout/")
    first, second = django_user_model.objects.get(username="first"), django_user_model.objects.get(username="second")
    assert first.is_staff and first.is_superuser
    assert not second.is_staff and not second.is_superuser
