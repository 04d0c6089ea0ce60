"""A stored API key stays bound to its server; staff choose servers only from an allowlist.

The security test's path: staff with only "change model" pointed a model's source at a URL
of their own and ran Test load, which sent the stored key there and brought back the body.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth.models import Permission
from django.test import Client, override_settings

from council.catalog import measure
from council.catalog.models import LanguageModel
from council.comparisons.models import Comparison, Response
from council.comparisons.runner import run_response
from tests.council.catalog.test_admin import change_url, form_data

pytestmark = pytest.mark.django_db

SECRET_BODY = "capture-server-says " + "x" * 600


@pytest.fixture
def capture():
    """A loopback HTTP server that records each request's Authorization header and answers 401 with a long body."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(self.headers.get("Authorization"))
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = SECRET_BODY.encode()
            self.send_response(401)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.seen = seen
    server.url = f"http://127.0.0.1:{server.server_port}/v1"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def remote(db):
    return LanguageModel.objects.create(
        slug="remote", name="Remote", backend="openai", source="http://127.0.0.1:9/v1", api_key="sk-admins-key",
        remote_model_fast="m", remote_model_thinking="m",
    )


@pytest.fixture
def editor(django_user_model):
    """Staff with only the model's view and change permissions."""
    user = django_user_model.objects.create_user("editor", password="editor-pass-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_languagemodel", "change_languagemodel"]))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser(admin):
    client = Client()
    client.force_login(admin)
    return client


def test_staff_without_superuser_cannot_point_a_model_at_a_server_of_their_choice(editor, remote, capture):
    response = editor.post(change_url(remote), form_data(remote, source=capture.url))
    assert response.status_code == 200
    assert "Only a superuser" in response.context["adminform"].form.errors["source"][0]
    remote.refresh_from_db()
    assert remote.source == "http://127.0.0.1:9/v1" and remote.api_key == "sk-admins-key"


def test_a_query_string_cannot_swallow_the_appended_path(superuser, remote, capture):
    response = superuser.post(change_url(remote), form_data(remote, source=capture.url + "?"))
    assert response.status_code == 200
    assert "without a query" in response.context["adminform"].form.errors["source"][0]


def test_staff_may_choose_an_allowlisted_server_and_the_stored_key_is_dropped(editor, remote):
    with override_settings(COUNCIL_REMOTE_URL_ALLOWLIST=["http://vllm:8001"]):
        refused = editor.post(change_url(remote), form_data(remote, source="http://vllm:8002/v1"))
        assert "not one of the servers" in refused.context["adminform"].form.errors["source"][0]
        refused = editor.post(change_url(remote), form_data(remote, source="https://vllm:8001/v1"))
        assert "not one of the servers" in refused.context["adminform"].form.errors["source"][0]
        response = editor.post(change_url(remote), form_data(remote, source="http://vllm:8001/v1"), follow=True)
    assert response.status_code == 200
    assert "The stored API key was removed" in response.content.decode()
    remote.refresh_from_db()
    assert (remote.source, remote.api_key) == ("http://vllm:8001/v1", "")


@pytest.mark.parametrize("change", [{"backend": "auto", "source": "smollm2-135m-instruct"}, {"source": "http://127.0.0.1:10/v1"}])
def test_changing_the_source_or_backend_drops_the_key_unless_a_new_one_comes_with_it(superuser, remote, change):
    superuser.post(change_url(remote), form_data(remote, **change))
    remote.refresh_from_db()
    assert remote.api_key == ""
    superuser.post(change_url(remote), form_data(remote, source="http://127.0.0.1:11/v1", backend="openai",
                                                 api_key="sk-new-for-11"))
    remote.refresh_from_db()
    assert remote.api_key == "sk-new-for-11"


def test_the_key_also_drops_when_the_source_changes_outside_the_admin(remote):
    remote.source = "http://127.0.0.1:12/v1"
    remote.save()
    remote.refresh_from_db()
    assert remote.api_key == ""


def test_test_load_after_a_source_change_sends_no_key_and_keeps_the_body_for_staff_shortened(superuser, remote, capture):
    superuser.post(change_url(remote), form_data(remote, source=capture.url))
    measure.run_test_load(remote.pk, modes=("fast",))
    assert capture.seen == [None], "the stored key never leaves for the new server"
    result = LanguageModel.objects.get(pk=remote.pk).measurements["test_load"]["fast"]
    assert "401" in result["error"] and "capture-server-says" not in result["error"]
    assert result["detail"].startswith("capture-server-says") and len(result["detail"]) <= 300
    page = superuser.get(change_url(remote)).content.decode()
    assert "Server said: capture-server-says" in page


@pytest.mark.django_db(transaction=True)
def test_a_remote_error_body_never_reaches_the_person_who_asked(alice, remote, capture):
    LanguageModel.objects.filter(pk=remote.pk).update(source=capture.url)
    comparison = Comparison.objects.create(owner=alice, prompt="Hi", mode="fast")
    answer = Response.objects.create(comparison=comparison, model=remote, mode="fast")
    run_response(str(answer.id))
    answer.refresh_from_db()
    assert answer.status == "failed" and "401" in answer.error
    assert "capture-server-says" not in answer.error
    client = Client()
    client.force_login(alice)
    assert "capture-server-says" not in client.get(f"/api/comparisons/{comparison.id}").content.decode()
