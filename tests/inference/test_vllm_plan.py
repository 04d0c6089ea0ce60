"""The vLLM engine: plan → AsyncEngineArgs / SamplingParams mapping, and its stream plumbing.

vLLM cannot run here (no GPU, no CPU wheel), so the mapping is tested as the plain
dicts the engine passes to vLLM, and the stream (background event loop, DELTA outputs,
cancel → abort) against a stand-in for AsyncLLM. Tests that need vLLM itself use
pytest.importorskip("vllm") and run only where it is installed;
scripts/gpu_smoke_vllm.py runs the real thing on a GPU.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from types import SimpleNamespace

import pytest

from inference.engines.base import EngineError
from inference.engines.vllm import (
    VLLMEngine,
    chat_template_kwargs,
    engine_args,
    load,
    sampling_params,
    spec_decode_counts,
    speculative_config,
    vllm_available,
    vllm_quantization,
)
from inference.quantization import VLLM_033_METHODS
from inference.plan import resolve
from inference.types import DeltaKind, GenerationRequest, Message, Mode, ModelSpec

pytestmark = pytest.mark.timeout(60)


def gpu_spec(**overrides) -> ModelSpec:
    fields = dict(slug="qwen3-8b", source="Qwen/Qwen3-8B", backend="vllm", context_length=4096,
                  supports_reasoning=True)
    fields.update(overrides)
    return ModelSpec(**fields)


def plan(spec: ModelSpec, mode: Mode):
    return resolve(spec, mode, device="cuda")


def request(rid: str = "r1", max_tokens: int = 100, **kw) -> GenerationRequest:
    return GenerationRequest(request_id=rid, messages=(Message("user", "Hi there"),), max_tokens=max_tokens, **kw)


def test_fast_quantizes_to_fp8_and_speculates_with_ngrams_by_default():
    spec = gpu_spec(num_speculative_tokens=5)
    args = engine_args(spec, plan(spec, Mode.FAST))
    assert args["model"] == "Qwen/Qwen3-8B"
    assert args["quantization"] == "fp8_per_tensor"  # vLLM 0.33's name for online FP8
    assert args["dtype"] == "bfloat16"
    assert args["speculative_config"] == {
        "method": "ngram", "num_speculative_tokens": 5, "prompt_lookup_min": 2, "prompt_lookup_max": 4,
    }
    assert args["per_request_spec_decode_metrics"] == "summary"
    assert args["max_model_len"] == 4096


def test_thinking_runs_bf16_with_no_quantization_and_no_speculation():
    spec = gpu_spec(quantization="awq", draft_model="Qwen/Qwen3-0.6B")
    args = engine_args(spec, plan(spec, Mode.THINKING))
    assert args["dtype"] == "bfloat16"
    assert "quantization" not in args
    assert "speculative_config" not in args
    assert "per_request_spec_decode_metrics" not in args


def test_fast_uses_the_checkpoints_awq_or_gptq_quantization():
    for name in ("awq", "gptq", "awq_marlin"):
        spec = gpu_spec(quantization=name)
        assert engine_args(spec, plan(spec, Mode.FAST))["quantization"] == name


def test_fast_speculates_with_a_configured_draft_model():
    spec = gpu_spec(draft_model="Qwen/Qwen3-0.6B", num_speculative_tokens=3)
    config = engine_args(spec, plan(spec, Mode.FAST))["speculative_config"]
    assert config == {"method": "draft_model", "model": "Qwen/Qwen3-0.6B", "num_speculative_tokens": 3}


def test_fast_speculates_with_an_eagle_head_when_asked():
    spec = gpu_spec(speculative_method="eagle", draft_model="yuhuili/EAGLE-LLaMA3-Instruct-8B")
    config = speculative_config(spec, plan(spec, Mode.FAST))
    assert config["method"] == "eagle" and config["model"] == "yuhuili/EAGLE-LLaMA3-Instruct-8B"


def test_eagle_without_a_head_is_a_configuration_error():
    spec = gpu_spec(speculative_method="eagle")
    with pytest.raises(EngineError, match="needs a draft_model"):
        engine_args(spec, plan(spec, Mode.FAST))


def test_speculation_can_be_switched_off():
    spec = gpu_spec(speculative_method="none")
    assert "speculative_config" not in engine_args(spec, plan(spec, Mode.FAST))


def test_prompt_lookup_lengths_come_from_extra_and_are_checked():
    spec = gpu_spec(extra=(("prompt_lookup_min", "1"), ("prompt_lookup_max", "6")))
    config = speculative_config(spec, plan(spec, Mode.FAST))
    assert (config["prompt_lookup_min"], config["prompt_lookup_max"]) == (1, 6)
    bad = gpu_spec(extra=(("prompt_lookup_min", "5"), ("prompt_lookup_max", "2")))
    with pytest.raises(EngineError, match="prompt_lookup_min"):
        speculative_config(bad, plan(bad, Mode.FAST))


def test_a_quantization_vllm_cannot_apply_is_a_configuration_error():
    spec = gpu_spec(quantization="int4wo")
    with pytest.raises(EngineError, match="fp8"):
        engine_args(spec, plan(spec, Mode.FAST))


def test_operators_can_pass_more_engine_args_as_json():
    spec = gpu_spec(extra=(("vllm_args", '{"tensor_parallel_size": 2, "enforce_eager": true}'),
                           ("gpu_memory_utilization", "0.9")))
    args = engine_args(spec, plan(spec, Mode.THINKING))
    assert args["tensor_parallel_size"] == 2 and args["enforce_eager"] is True
    assert args["gpu_memory_utilization"] == 0.9
    with pytest.raises(EngineError, match="vllm_args"):
        engine_args(gpu_spec(extra=(("vllm_args", "[1]"),)), plan(spec, Mode.THINKING))


def test_fast_and_thinking_share_a_gpu_by_default():
    spec = gpu_spec()
    total = sum(engine_args(spec, plan(spec, m))["gpu_memory_utilization"] for m in Mode)
    assert total <= 0.95


def test_it_refuses_a_plan_for_another_engine():
    spec = gpu_spec(backend="auto")
    with pytest.raises(EngineError, match="not vllm"):
        engine_args(spec, resolve(spec, Mode.THINKING, device="cpu"))


def test_sampling_params_cap_the_request_by_the_modes_budget_and_the_context():
    spec = gpu_spec(default_max_tokens=64, max_tokens_limit=64, context_length=1000)
    fast = plan(spec, Mode.FAST)
    params = sampling_params(spec, fast, request(max_tokens=500, temperature=0.3, top_p=0.9,
                                                 stop=("###",), seed=11), prompt_tokens=10)
    assert params == {"max_tokens": 64, "temperature": 0.3, "top_p": 0.9, "skip_special_tokens": True,
                      "stop": ["###"], "seed": 11}
    thinking = plan(spec, Mode.THINKING)
    assert sampling_params(spec, thinking, request(max_tokens=900), prompt_tokens=990)["max_tokens"] == 10


def test_a_prompt_that_fills_the_context_is_refused():
    spec = gpu_spec(context_length=100)
    with pytest.raises(EngineError, match="shorten"):
        sampling_params(spec, plan(spec, Mode.FAST), request(), prompt_tokens=100)


def test_reasoning_is_switched_through_the_chat_template():
    spec = gpu_spec()
    assert chat_template_kwargs(spec, plan(spec, Mode.THINKING)) == {"enable_thinking": True}
    assert chat_template_kwargs(spec, plan(spec, Mode.FAST)) == {"enable_thinking": False}
    plain = gpu_spec(supports_reasoning=False)
    assert chat_template_kwargs(plain, plan(plain, Mode.THINKING)) == {}


def test_it_reads_per_request_acceptance_counts_where_vllm_gives_them():
    as_attrs = SimpleNamespace(metrics=SimpleNamespace(
        speculative_decoding=SimpleNamespace(num_draft_tokens=40, num_accepted_draft_tokens=22)), outputs=[])
    assert spec_decode_counts(as_attrs) == (40, 22)
    as_dict = {"metrics": {"speculative_decoding": {"num_draft_tokens": 8, "num_accepted_tokens": 3}}}
    assert spec_decode_counts(as_dict) == (8, 3)
    per_step = SimpleNamespace(metrics=None, outputs=[SimpleNamespace(
        spec_decode_metrics={"num_draft_tokens": 6, "per_step_accepted": [2, 1, 0]})])
    assert spec_decode_counts(per_step) == (6, 3)
    assert spec_decode_counts(SimpleNamespace(metrics=None, outputs=[SimpleNamespace()])) == (None, None)


@dataclasses.dataclass
class RequestSpecDecodeMetrics:
    """The exact shape of vLLM 0.33.0's vllm/v1/metrics/stats.py RequestSpecDecodeMetrics (a copy: no vLLM here).

    In-process it rides on `RequestOutput.outputs[0].spec_decode_metrics`; `RequestOutput.metrics`
    is a RequestStateStats without it. `summary` level leaves the per-step lists empty.
    """

    num_spec_tokens: int
    histogram: list = dataclasses.field(default_factory=list)
    num_draft_tokens: int = 0
    per_step_accepted: list = dataclasses.field(default_factory=list)
    per_step_drafted: list = dataclasses.field(default_factory=list)

    def to_dict(self):
        accepted = sum(j * count for j, count in enumerate(self.histogram))
        return {"acceptance_histogram": list(self.histogram), "num_spec_steps": sum(self.histogram),
                "num_accepted_draft_tokens": accepted, "num_draft_tokens": self.num_draft_tokens,
                "num_spec_tokens": self.num_spec_tokens}


def test_it_reads_the_accepted_count_from_vllm_033s_in_process_output():
    # 5 verify steps of k=4 drafts: 0, 1, 4, 4 and 2 accepted -> 11 of 20 drafted.
    sd = RequestSpecDecodeMetrics(num_spec_tokens=4, histogram=[1, 1, 1, 0, 2], num_draft_tokens=20)
    state_stats = SimpleNamespace(arrival_time=0.0, num_generation_tokens=16)  # RequestStateStats: no spec fields
    output = SimpleNamespace(metrics=state_stats, outputs=[SimpleNamespace(text="x", spec_decode_metrics=sd)])
    assert spec_decode_counts(output) == (20, 11)
    without_to_dict = SimpleNamespace(metrics=state_stats, outputs=[SimpleNamespace(
        spec_decode_metrics=SimpleNamespace(num_draft_tokens=20, histogram=[1, 1, 1, 0, 2], per_step_accepted=[]))])
    assert spec_decode_counts(without_to_dict) == (20, 11)


def test_online_fp8_is_named_for_the_vllm_release_at_hand():
    spec = gpu_spec()
    fast = plan(spec, Mode.FAST)
    assert vllm_quantization(fast, VLLM_033_METHODS) == "fp8_per_tensor"
    older = frozenset({"fp8", "awq", "gptq", "compressed-tensors"})
    assert vllm_quantization(fast, older) == "fp8"
    assert vllm_quantization(plan(spec, Mode.THINKING), VLLM_033_METHODS) is None


def test_names_vllm_033_refuses_are_configuration_errors():
    for name in ("bitsandbytes", "gguf", "fbgemm_fp8"):
        spec = gpu_spec(quantization=name)
        with pytest.raises(EngineError, match="vLLM cannot apply"):
            engine_args(spec, plan(spec, Mode.FAST))
    spec = gpu_spec(quantization="compressed-tensors")
    assert engine_args(spec, plan(spec, Mode.FAST))["quantization"] == "compressed-tensors"


def test_choosing_vllm_without_it_installed_is_a_clear_configuration_error():
    if vllm_available():
        pytest.skip("vLLM is installed here")
    spec = gpu_spec()
    with pytest.raises(EngineError, match="vLLM is not installed"):
        load(spec, plan(spec, Mode.FAST))


class FakeTokenizer:
    def apply_chat_template(self, messages, tokenize, add_generation_prompt, chat_template=None, **kwargs):
        self.kwargs = kwargs
        return "<s>" + " ".join(m["content"] for m in messages) + " <assistant>"

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": list(range(len(text.split())))}


class FakeAsyncLLM:
    """Stands in for vLLM's AsyncLLM, which cannot run here: async DELTA outputs, recorded aborts."""

    def __init__(self, pieces, hang=False, fail=None):
        self.pieces, self.hang, self.fail = pieces, hang, fail
        self.aborted: list[str] = []
        self.prompts: list = []

    async def generate(self, prompt, params, request_id):
        self.prompts.append((prompt, params))
        for i, text in enumerate(self.pieces):
            await asyncio.sleep(0.01)
            metrics = SimpleNamespace(speculative_decoding={"num_draft_tokens": 4 * (i + 1),
                                                            "num_accepted_draft_tokens": 2 * (i + 1)})
            yield SimpleNamespace(outputs=[SimpleNamespace(text=text, token_ids=[i])], metrics=metrics,
                                  finished=i == len(self.pieces) - 1 and not self.hang)
        if self.fail:
            raise self.fail
        if self.hang:
            await asyncio.sleep(3600)

    async def abort(self, request_id):
        self.aborted.append(request_id)


def fake_engine(llm, mode=Mode.FAST, **spec_overrides) -> VLLMEngine:
    spec = gpu_spec(**spec_overrides)
    engine = VLLMEngine(spec, plan(spec, mode), llm=llm, tokenizer=FakeTokenizer())
    engine._sampling_params = lambda params: params  # vLLM's SamplingParams needs vLLM
    return engine


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_it_streams_delta_outputs_then_done_with_metrics():
    llm = FakeAsyncLLM(["<think>plan", "</think>Hello", " world"])
    events = list(fake_engine(llm, mode=Mode.THINKING).stream(request()))
    *deltas, end = events
    assert [(d.kind, d.text) for d in deltas] == [
        (DeltaKind.REASONING, "plan"), (DeltaKind.ANSWER, "Hello"), (DeltaKind.ANSWER, " world")]
    assert end.type == "done"
    m = end.metrics
    assert m.engine == "vllm" and m.completion_tokens == 3 and m.prompt_tokens == 3
    assert m.ttft_ms > 0 and m.decode_tokens_per_s > 0
    prompt, params = llm.prompts[0]
    assert prompt == {"prompt_token_ids": [0, 1, 2]}
    assert params["max_tokens"] == 100 + 3 * 256  # the answer asked for, plus THINKING's reasoning budget


def test_fast_reports_the_acceptance_counts_and_its_speculation():
    end = list(fake_engine(FakeAsyncLLM(["a", "b"])).stream(request()))[-1]
    assert (end.metrics.draft_tokens, end.metrics.accepted_tokens) == (8, 4)
    assert end.metrics.speculation == "ngram" and end.metrics.quantization == "fp8_per_tensor"


def test_cancel_ends_the_stream_and_aborts_the_request_in_vllm():
    llm = FakeAsyncLLM(["one"], hang=True)
    engine = fake_engine(llm)
    events = engine.stream(request("r-cancel"))
    assert next(events).text == "one"
    threading.Timer(0.1, engine.cancel, args=("r-cancel",)).start()
    assert [e.type for e in events] == ["cancelled"]
    wait_for(lambda: "r-cancel" in llm.aborted)


def test_a_consumer_that_walks_away_aborts_the_request():
    llm = FakeAsyncLLM(["one"], hang=True)
    events = fake_engine(llm).stream(request("r-gone"))
    next(events)
    events.close()
    wait_for(lambda: "r-gone" in llm.aborted)


def test_a_vllm_failure_becomes_an_error_event():
    events = list(fake_engine(FakeAsyncLLM(["x"], fail=RuntimeError("engine dead"))).stream(request()))
    assert events[-1].type == "error" and "engine dead" in events[-1].error


def test_a_prompt_too_long_becomes_an_error_event():
    events = list(fake_engine(FakeAsyncLLM(["x"]), context_length=3).stream(request()))
    assert [e.type for e in events] == ["error"] and "shorten" in events[0].error


def test_concurrent_streams_share_one_event_loop():
    engine = fake_engine(FakeAsyncLLM(["a", "b", "c"]))
    results = {}

    def run(rid):
        results[rid] = [e.type for e in engine.stream(request(rid))][-1]

    threads = [threading.Thread(target=run, args=(f"r{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results == {f"r{i}": "done" for i in range(8)}


def test_the_mapping_builds_real_vllm_objects():
    """Needs vLLM installed (not on CPU CI): the dicts are valid AsyncEngineArgs / SamplingParams."""
    pytest.importorskip("vllm")
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.sampling_params import RequestOutputKind, SamplingParams

    from inference.engines.vllm import _filter_supported

    for mode in Mode:
        spec = gpu_spec()
        AsyncEngineArgs(**_filter_supported(AsyncEngineArgs, engine_args(spec, plan(spec, mode))))
        SamplingParams(**sampling_params(spec, plan(spec, mode), request()), output_kind=RequestOutputKind.DELTA)
