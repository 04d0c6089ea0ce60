"""Fixtures for the inference tests: the bundled models, loaded once per session."""

from __future__ import annotations

import pytest

from inference import bundled
from inference.types import Mode, ModelSpec

SMOLLM = "smollm2-135m-instruct"
GEMMA = "gemma-3-270m"


@pytest.fixture(scope="session")
def smollm_spec() -> ModelSpec:
    return bundled.BUNDLED[SMOLLM].spec()


@pytest.fixture(scope="session")
def smollm_fast(smollm_spec):
    from inference.engines import llamacpp
    from inference.plan import resolve

    return llamacpp.load(smollm_spec, resolve(smollm_spec, Mode.FAST, "cpu"))
