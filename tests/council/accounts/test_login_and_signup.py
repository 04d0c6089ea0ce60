"""Log-in throttling, closable sign-up, and the first account becoming the administrator exactly once."""

import threading
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings

from council.accounts import throttle, views
from council.accounts.forms import SignupForm

ADDRESS = "127.0.0.1"  # the test client's REMOTE_ADDR


@pytest.fixture(autouse=True)
def fresh_counters():
    """The counters live in the shared cache: start and end each test with none for these names."""
    names = ["alice", "bob", "admin", "nobody"]
    for name in names:
        throttle.reset(username=name)
    throttle.reset(address=ADDRESS)
    yield
    for name in names:
        throttle.reset(username=name)
    throttle.reset(address=ADDRESS)


def log_in(password, username="alice", path="/accounts/login/", address=ADDRESS):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


@override_settings(COUNCIL_LOGIN_FAILURES_PER_ACCOUNT=5, COUNCIL_LOGIN_FAILURES_PER_ADDRESS=100)
def test_after_too_many_wrong_passwords_even_the_right_one_waits_with_a_clear_message(alice):
    for _ in range(5):
        assert log_in("wrong").status_code == 200
    response = log_in("alice-pass-123")
    assert response.status_code == 429 and 1 <= int(response["Retry-After"]) <= 900
    assert "Too many failed log-ins" in response.content.decode()
    assert "_auth_user_id" not in response.client.session


@override_settings(COUNCIL_LOGIN_FAILURES_PER_ACCOUNT=5, COUNCIL_LOGIN_FAILURES_PER_ADDRESS=100)
def test_the_account_limit_holds_from_every_address_and_a_reset_lifts_it(alice):
    for n in range(5):
        log_in("wrong", address=f"10.0.0.{n}")
    assert log_in("alice-pass-123", address="10.0.0.99").status_code == 429
    call_command("reset_login_throttle", user="alice")
    response = log_in("alice-pass-123", address="10.0.0.99")
    assert response.status_code == 302


@override_settings(COUNCIL_LOGIN_FAILURES_PER_ACCOUNT=100, COUNCIL_LOGIN_FAILURES_PER_ADDRESS=5)
def test_one_address_trying_many_accounts_is_stopped_too(alice):
    for name in ["bob", "admin", "nobody", "bob", "admin"]:
        log_in("guess", username=name)
    assert log_in("alice-pass-123").status_code == 429
    assert log_in("alice-pass-123", address="10.0.0.7").status_code == 302


@override_settings(COUNCIL_LOGIN_FAILURES_PER_ACCOUNT=3, COUNCIL_LOGIN_FAILURES_PER_ADDRESS=100)
def test_a_successful_log_in_clears_the_accounts_failures(alice):
    log_in("wrong")
    log_in("wrong")
    assert log_in("alice-pass-123").status_code == 302
    log_in("wrong")
    log_in("wrong")
    assert log_in("alice-pass-123").status_code == 302


@override_settings(COUNCIL_LOGIN_FAILURES_PER_ACCOUNT=3, COUNCIL_LOGIN_FAILURES_PER_ADDRESS=100)
def test_the_admin_log_in_is_throttled_too(admin):
    for _ in range(3):
        log_in("wrong", username="admin", path="/admin/login/")
    response = log_in("admin-pass-123", username="admin", path="/admin/login/")
    assert response.status_code == 200 and "Too many failed log-ins" in response.content.decode()


@override_settings(COUNCIL_SIGNUP=False)
def test_closed_sign_up_creates_no_account_and_says_how_to_make_the_first_admin(db):
    client = Client()
    response = client.post("/accounts/signup/", {"username": "mallory", "password1": "a-long-pass-9",
                                                  "password2": "a-long-pass-9"})
    assert response.status_code == 403 and "createsuperuser" in response.content.decode()
    assert not get_user_model().objects.exists()
    assert 'href="/accounts/signup/"' not in client.get("/accounts/login/").content.decode()


def test_sign_up_is_closed_by_default_on_a_secure_deployment(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    code = "from django.conf import settings; print(settings.COUNCIL_SIGNUP)"
    for secure, expected in (("true", "False"), ("false", "True")):
        result = subprocess.run(
            [sys.executable, "-c", f"import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'council.settings'); django.setup(); {code}"],
            cwd=ROOT, env={**env, "COUNCIL_DATA_DIR": str(tmp_path), "COUNCIL_SECURE": secure},
            capture_output=True, text=True, timeout=60,
        )
        assert result.stdout.strip() == expected, result.stderr


@pytest.mark.django_db(transaction=True)
def test_two_first_sign_ups_at_once_make_exactly_one_administrator():
    """The first sign-up is held after its "no account yet" look until the second has had its chance to look."""
    if connection.vendor != "postgresql":
        pytest.skip("the race and its lock are Postgres's; SQLite writes one transaction at a time")
    second_looked = threading.Event()
    looks = []
    original = views._no_account_yet

    def look():
        answer = original()
        looks.append(answer)
        if len(looks) == 1:
            second_looked.wait(timeout=3)  # without the lock the second looks now, and also sees no account
        else:
            second_looked.set()
        return answer

    def sign_up(name):
        try:
            form = SignupForm({"username": name, "password1": "a-long-pass-9", "password2": "a-long-pass-9"})
            assert form.is_valid(), form.errors
            views.create_account(form)
        finally:
            connection.close()

    with mock.patch.object(views, "_no_account_yet", look):
        threads = [threading.Thread(target=sign_up, args=(name,)) for name in ("first", "second")]
        threads[0].start()
        for _ in range(1000):  # up to 10 s for the first to look
            if looks:
                break
            threading.Event().wait(0.01)
        threads[1].start()
        for thread in threads:
            thread.join(timeout=30)
    users = get_user_model().objects.all()
    assert users.count() == 2
    assert users.filter(is_superuser=True).count() == 1
