"""Per-process cache of loaded engines: load once, share, evict the least recently used.

Keyed by (ModelSpec, EnginePlan): the same model in FAST and THINKING is two engines.
Concurrent requests for a model that is still loading wait for that one load. The
total of the engines' approximate sizes stays under COUNCIL_INFERENCE_MEMORY_MB
(default: half of this machine's RAM); the engine just loaded is never evicted, and an
evicted engine still finishes the streams that hold it.

Each engine module `inference.engines.<plan.engine>` exposes
`load(spec: ModelSpec, plan: EnginePlan) -> Engine`.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass

from inference.engines.base import Engine, Option
from inference.errors import EngineError
from inference.plan import BACKEND_ENGINES, resolve
from inference.types import EnginePlan, Mode, ModelSpec

log = logging.getLogger(__name__)

Key = tuple[ModelSpec, EnginePlan]


@dataclass
class _Entry:
    spec: ModelSpec
    plan: EnginePlan
    engine: Engine
    approx_bytes: int


_lock = threading.Lock()
_engines: OrderedDict[Key, _Entry] = OrderedDict()
_loading: dict[Key, Future] = {}


def memory_budget_bytes() -> int:
    configured = os.environ.get("COUNCIL_INFERENCE_MEMORY_MB")
    if configured:
        return int(configured) * 1024 * 1024
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def get_engine(spec: ModelSpec, mode: Mode) -> Engine:
    """The loaded engine for `spec` in `mode`, loading it (once) if needed.

    Raises EngineError with a message a person can act on when it cannot load.
    """
    plan = resolve(spec, mode)
    key = (spec, plan)
    with _lock:
        entry = _engines.get(key)
        if entry is not None:
            _engines.move_to_end(key)
            return entry.engine
        pending = _loading.get(key)
        owner = pending is None
        if owner:
            pending = _loading[key] = Future()
    if not owner:
        return pending.result()  # the loading thread's engine, or its EngineError

    try:
        engine = _load(spec, plan)
    except BaseException as exc:  # waiters must hear of every failure, even an interrupt
        error = exc if isinstance(exc, EngineError) or not isinstance(exc, Exception) else EngineError(
            f"Could not load {spec.slug} on the {plan.engine} engine: {type(exc).__name__}: {exc}"
        )
        with _lock:
            _loading.pop(key, None)
        pending.set_exception(error)
        if error is exc:
            raise
        raise error from exc
    with _lock:
        _engines[key] = _Entry(spec, plan, engine, _approx_bytes(engine))
        _loading.pop(key, None)
        _evict_over_budget(keep=key)
    pending.set_result(engine)
    return engine


def loaded() -> list[dict]:
    """The engines loaded in this process, least recently used first: for a health page."""
    with _lock:
        entries = list(_engines.values())
    return [
        {
            "slug": e.spec.slug,
            "mode": e.plan.mode.value,
            "engine": e.plan.engine,
            "device": e.plan.device,
            "dtype": e.plan.dtype,
            "quantization": e.plan.quantization,
            "speculation": e.plan.speculation,
            "approx_bytes": e.approx_bytes,
        }
        for e in entries
    ]


def install(spec: ModelSpec, mode: Mode, engine: Engine) -> None:
    """Put a ready engine in the cache (tests put a fake one here, where no model can run)."""
    plan = resolve(spec, mode)
    with _lock:
        _engines[(spec, plan)] = _Entry(spec, plan, engine, _approx_bytes(engine))


def clear() -> None:
    """Forget every loaded engine (tests). Streams in progress keep theirs."""
    with _lock:
        _engines.clear()


def _load(spec: ModelSpec, plan: EnginePlan) -> Engine:
    try:
        module = importlib.import_module(f"inference.engines.{plan.engine}")
    except ImportError as exc:
        raise EngineError(
            f"The {plan.engine} engine is not available in this worker ({exc}); "
            "install its dependencies or change the model's backend."
        ) from exc
    loader = getattr(module, "load", None)
    if loader is None:
        raise EngineError(f"inference.engines.{plan.engine} has no load(spec, plan) function.")
    log.info("loading %s (%s) on %s", spec.slug, plan.mode.value, plan.engine)
    return loader(spec, plan)


def engine_options(backend: str) -> list[Option]:
    """The per-model options (`ModelSpec.extra`) read by the engines the plan may pick for `backend`."""
    found: dict[str, Option] = {}
    for engine in BACKEND_ENGINES.get(backend or "auto", ()):
        module = importlib.import_module(f"inference.engines.{engine}")
        for option in getattr(module, "OPTIONS", ()):
            found.setdefault(option.name, option)
    return list(found.values())


def _approx_bytes(engine: Engine) -> int:
    measure = getattr(engine, "approx_bytes", None)
    try:
        return int(measure()) if callable(measure) else 0
    except Exception:
        return 0


def _evict_over_budget(keep: Key) -> None:
    """Drop least recently used engines until the total fits. Caller holds _lock."""
    budget = memory_budget_bytes()
    total = sum(e.approx_bytes for e in _engines.values())
    for key in list(_engines):
        if total <= budget:
            break
        if key == keep:
            continue
        total -= _engines.pop(key).approx_bytes
        log.info("evicted %s (%s) to stay under %d MiB", key[0].slug, key[1].mode.value, budget >> 20)
    if total > budget:
        log.warning("loaded engines take ~%d MiB, over the %d MiB budget", total >> 20, budget >> 20)
