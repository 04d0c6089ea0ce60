"""Per-process cache of loaded engines: load once, share, evict the least recently used.

Keyed by (ModelSpec, EnginePlan): the same model in FAST and THINKING is two engines.
Concurrent requests for a model that is still loading wait for that one load. The
total of the engines' approximate sizes stays under COUNCIL_INFERENCE_MEMORY_MB
(default: half of this machine's RAM); the engine just loaded is never evicted, and an
evicted engine still finishes the streams that hold it.

Each engine module `inference.engines.<plan.engine>` exposes
`load(spec: ModelSpec, plan: EnginePlan) -> Engine`.

Loads of one engine kind run one at a time in a process, and engine modules are imported
under one lock. Two transformers loads at once are not safe: `from_pretrained` changes
process-wide state while it builds a model (torch's default dtype, the empty-weights
context that puts new parameters on the meta device), so a second load in another thread
built its model half on "meta" ("Cannot copy out of meta tensor; no data!"); and two
threads importing transformers at once could see it partially initialised, an ImportError
that read as "needs torch and transformers". Kinds still load side by side (llama.cpp in
under a second while torch converts a GGUF), and `preload` loads in the background.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from collections import OrderedDict, defaultdict
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
_import_lock = threading.Lock()
_kind_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)  # engine kind -> one load at a time


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
    return get_engine_timed(spec, mode)[0]


def get_engine_timed(spec: ModelSpec, mode: Mode) -> tuple[Engine, float | None]:
    """The engine, and the milliseconds this call waited for a load (None: it was loaded)."""
    plan = resolve(spec, mode)
    key = (spec, plan)
    with _lock:
        entry = _engines.get(key)
        if entry is not None:
            _engines.move_to_end(key)
            return entry.engine, None
        pending = _loading.get(key)
        owner = pending is None
        if owner:
            pending = _loading[key] = Future()
    started = time.perf_counter()
    if not owner:
        engine = pending.result()  # the loading thread's engine, or its EngineError
        return engine, round((time.perf_counter() - started) * 1000, 1)

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
    return engine, round((time.perf_counter() - started) * 1000, 1)


def is_loaded(spec: ModelSpec, mode: Mode) -> bool:
    """True when `spec` in `mode` is ready in this process (a column then need not say it is loading)."""
    key = (spec, resolve(spec, mode))
    with _lock:
        return key in _engines


def preload(pairs) -> list[tuple[str, str, float | None]]:
    """Load each (spec, mode) of `pairs`, one after another: (slug, mode, load_ms or None if it was loaded).

    A failure is logged and the next pair loads (a column that asks for that model later
    reports the error itself). Callers run it on a background thread.
    """
    done = []
    for spec, mode in pairs:
        mode = Mode(mode)
        try:
            _, load_ms = get_engine_timed(spec, mode)
        except Exception as exc:
            log.warning("could not preload %s (%s): %s", spec.slug, mode.value, exc)
            continue
        if load_ms is not None:
            log.info("preloaded %s (%s) in %.1f s", spec.slug, mode.value, load_ms / 1000)
        done.append((spec.slug, mode.value, load_ms))
    return done


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
        with _import_lock:
            module = importlib.import_module(f"inference.engines.{plan.engine}")
    except ImportError as exc:
        raise EngineError(
            f"The {plan.engine} engine is not available in this worker ({exc}); "
            "install its dependencies or change the model's backend."
        ) from exc
    loader = getattr(module, "load", None)
    if loader is None:
        raise EngineError(f"inference.engines.{plan.engine} has no load(spec, plan) function.")
    with _lock:
        kind_lock = _kind_locks[plan.engine]
    with kind_lock:
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
