"""Every FAST answer checked against THINKING: stored, published, in the API, the exports and the page."""

import asyncio
import csv
import io
import re
import subprocess
import sys
import threading
import time
from datetime import timedelta

import httpx

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client
from django.utils import timezone

from council.accounts.models import ApiToken
from council.asgi import application
from council.comparisons import dispatch, exports, quality
from council.comparisons.models import Comparison, Response, Status
from council.lib.sse import read_events
from council.lib.worddiff import word_diff
from tests.conftest import ROOT, _stop, requires_services, service_env

MEASURED = {"reference": "thinking", "top1_agreement": 0.9712, "mean_kl": 0.0213, "mean_logprob": -1.25,
            "first_divergence": 40, "tokens": 139}


def finished(owner, model, mode="fast", text="Paris is the capital of France.", comparison=None, **fields):
    comparison = comparison or Comparison.objects.create(owner=owner, prompt="What is the capital of France?",
                                                         mode=mode, temperature=0.0)
    return Response.objects.create(comparison=comparison, model=model, mode=mode, text=text,
                                   **{"status": Status.DONE, "finished_at": timezone.now(), **fields})


@pytest.fixture
def smollm(bundled):
    model = bundled["smollm2-135m-instruct"]
    model.quality_check = True
    model.save()
    return model


# --- what is due, and the line a person reads --------------------------------------------


def test_a_finished_fast_answer_of_a_local_model_expects_its_quality(alice, smollm):
    assert quality.expected(finished(alice, smollm))


def test_an_answer_that_ended_long_ago_without_a_score_is_not_shown_as_being_measured(alice, smollm):
    now = timezone.now()
    assert quality.awaiting(finished(alice, smollm, finished_at=now))
    old = finished(alice, smollm, finished_at=now - timedelta(seconds=quality.PENDING_SECONDS + 1))
    assert quality.expected(old) and not quality.awaiting(old)
    assert "measuring agreement" not in page(alice, old.comparison)


def test_thinking_answers_unfinished_ones_and_models_with_the_check_off_expect_none(alice, smollm, bundled):
    assert not quality.expected(finished(alice, smollm, mode="thinking"))
    assert not quality.expected(finished(alice, smollm, status=Status.RUNNING))
    assert not quality.expected(finished(alice, bundled["gemma-3-270m"]))  # the fixture turns the check off
    smollm.backend = "openai"
    assert not quality.expected(finished(alice, smollm))


def test_the_summary_line_reads_as_the_page_shows_it():
    assert quality.summary(MEASURED) == (
        "agrees with THINKING on 97 % of its tokens · KL 0.02 · first divergence at token 41")
    assert quality.summary({**MEASURED, "first_divergence": None, "top1_agreement": 1.0}).endswith("no divergence")
    assert quality.summary({**MEASURED, "error": "no logits"}) == "agreement with THINKING not measured: no logits"
    assert quality.summary(None) == ""


def test_a_model_with_the_check_off_queues_nothing(alice, bundled):
    assert quality.queue_check(finished(alice, bundled["gemma-3-270m"])) is False


# --- stored once, published, read back ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
@requires_services
def test_a_recorded_quality_is_stored_once_and_reaches_the_page_over_the_websocket(alice, smollm):
    response = finished(alice, smollm)
    client = Client()
    client.force_login(alice)
    cookie = client.cookies["sessionid"].value
    headers = [(b"cookie", f"sessionid={cookie}".encode()), (b"host", b"localhost"), (b"origin", b"http://localhost")]

    async def scenario():
        communicator = WebsocketCommunicator(application, f"/ws/comparisons/{response.comparison_id}/", headers=headers)
        assert (await communicator.connect(timeout=10))[0]
        first = await communicator.receive_from(timeout=10)
        assert "measuring agreement with THINKING" in first
        assert await sync_to_async(quality.record)(response, MEASURED) == MEASURED
        assert await sync_to_async(quality.record)(response, {**MEASURED, "tokens": 1}) is None  # once
        column = await communicator.receive_from(timeout=10)
        await communicator.disconnect()
        return column

    column = asyncio.run(scenario())
    assert f'id="col-{response.id}"' in column
    assert "agrees with THINKING on 97 % of its tokens · KL 0.02 · first divergence at token 41" in column
    assert Response.objects.get(id=response.id).quality == MEASURED


@requires_services
def test_a_regenerated_answer_drops_the_old_quality_and_a_late_score_of_the_old_text_is_not_stored(alice, smollm):
    from council.comparisons import actions

    old = finished(alice, smollm, quality=MEASURED)
    actions.regenerate(old)
    assert Response.objects.get(id=old.id).quality is None
    Response.objects.filter(id=old.id).update(status=Status.DONE, text="A new answer.")
    assert quality.record(old, MEASURED) is None  # `old` still holds the text that was scored


def test_the_api_has_quality_for_fast_and_null_for_thinking(alice, smollm):
    fast = finished(alice, smollm, quality=MEASURED)
    finished(alice, smollm, mode="thinking", comparison=fast.comparison)
    client = Client()
    client.force_login(alice)
    body = client.get(f"/api/comparisons/{fast.comparison_id}").json()
    assert [(r["mode"], r["quality"]) for r in body["responses"]] == [("fast", MEASURED), ("thinking", None)]


def test_the_exports_carry_the_quality(alice, smollm):
    fast = finished(alice, smollm, quality=MEASURED)
    rows = list(csv.DictReader(io.StringIO(exports.to_csv(fast.comparison))))
    assert rows[0]["top1_agreement"] == "0.9712" and rows[0]["first_divergence"] == "40"
    assert "agrees with THINKING on 97 % of its tokens" in exports.to_markdown(fast.comparison)
    assert '"top1_agreement": 0.9712' in exports.to_json(fast.comparison)


# --- the page ------------------------------------------------------------------------------


def page(user, comparison):
    client = Client()
    client.force_login(user)
    return client.get(f"/c/{comparison.id}/").content.decode()


def test_mode_both_shows_a_word_diff_with_the_first_divergence_marked(alice, smollm):
    fast = finished(alice, smollm, text="Paris is the capital of France.", quality=MEASURED)
    finished(alice, smollm, mode="thinking", text="Paris is the largest city of France.", comparison=fast.comparison)
    html = page(alice, fast.comparison)
    assert "Differs from THINKING’s answer from word 4" in html
    marked = re.findall(r'<(del|ins)[^>]*class="first-divergence"[^>]*>([^<]*)<', html)
    assert marked == [("del", " largest city"), ("ins", " capital")]


def test_identical_greedy_answers_say_so(alice, smollm):
    fast = finished(alice, smollm, quality={**MEASURED, "first_divergence": None, "top1_agreement": 1.0})
    finished(alice, smollm, mode="thinking", comparison=fast.comparison)
    html = page(alice, fast.comparison)
    assert "Identical to THINKING’s answer, word for word." in html
    assert "no divergence" in html


def test_the_thinking_column_says_it_computes_the_bundled_4_bit_weights_in_fp32(alice, smollm):
    thinking = finished(alice, smollm, mode="thinking")
    html = page(alice, thinking.comparison)
    assert 'class="precision dequantized"' in html and "4-bit weights in fp32" in html
    assert "ships only as a 4-bit GGUF file (Q4_1)" in html


def test_the_word_diff_keeps_the_text_and_ignores_whitespace_alone():
    same = word_diff("One two\nthree.", "One  two three.")
    assert same.identical and "".join(s.text for s in same.segments) == "One two\nthree."
    diff = word_diff("a b c d", "a x c d e")
    assert diff.first_word == 2
    assert [(s.op, s.text, s.first) for s in diff.segments] == [
        ("same", "a", False), ("thinking", " x", True), ("fast", " b", True), ("same", " c d", False),
        ("thinking", " e", False)]


# --- the stream, and the real check behind the answers -------------------------------------


@requires_services
def test_the_event_stream_stays_open_for_a_fast_answers_quality_then_ends(daphne_server, alice, smollm):
    done = finished(alice, smollm)
    _, token = ApiToken.issue(alice, "t")

    def record():
        try:
            quality.record(done, MEASURED)
        finally:
            connection.close()  # this thread's own connection, so the test database can be dropped

    def measure_after_the_snapshot(name, data, received_at):
        if name == "snapshot":
            threading.Timer(0.5, record).start()

    with httpx.Client(base_url=daphne_server, headers={"Authorization": f"Bearer {token}"}, timeout=10) as api:
        events = read_events(api, f"/api/comparisons/{done.comparison_id}/events", timeout=60,
                             on_event=measure_after_the_snapshot)
    assert [name for name, _ in events] == ["snapshot", "response.quality", "end"]
    assert events[1][1] == {"response_id": str(done.id), "quality": MEASURED}


@pytest.mark.slow
@requires_services
def test_a_quality_check_never_runs_before_a_queued_answer(alice, smollm, worker_queue, tmp_path):
    """A check and then an answer wait on one queue before a one-slot worker starts: the answer runs first.

    The check is real: the worker loads SmolLM2's THINKING (torch fp32) and scores the FAST answer.
    """
    smollm.queue = worker_queue
    smollm.save()
    done = finished(alice, smollm)
    assert quality.queue_check(done)  # at the background priority
    comparison = Comparison.objects.create(owner=alice, prompt="Name a colour.", mode="fast", max_tokens=8,
                                           temperature=0.0)
    waiting = Response.objects.create(comparison=comparison, model=smollm, mode="fast")
    dispatch.enqueue([waiting])
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "council", "worker", "-Q", worker_queue, "--pool", "threads",
         "--concurrency", "1", "-l", "INFO", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=service_env(), stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 240
        while Response.objects.filter(id__in=[done.id, waiting.id], quality__isnull=True).exists():
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
    finally:
        _stop(worker)
    ran = re.findall(r"Task comparisons\.(\w+)\[[^\]]+\] succeeded", log.read_text())
    assert ran == ["run_response", "measure_quality", "measure_quality"], log.read_text()[-3000:]
    measured = Response.objects.get(id=done.id).quality
    assert measured["reference"] == "thinking" and measured["tokens"] > 0 and "error" not in measured
    assert 0 <= measured["top1_agreement"] <= 1 and measured["mean_kl"] >= 0
