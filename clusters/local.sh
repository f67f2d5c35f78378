#!/usr/bin/env bash
# A sweep on a local multi-process Ray cluster, submitted as a Ray job the way it would be on
# a real cluster: start a head on loopback, submit with the checkout as the job's
# working_dir, wait for the sweep, stop Ray (also on failure or Ctrl-C).
#
#   bash clusters/local.sh                                    # search_spaces/smoke.yaml
#   bash clusters/local.sh search_spaces/lr.yaml --fresh      # any spec, any sweep options
#   KIP_NUM_CPUS=8 bash clusters/local.sh
#
# Overridable: KIP_NUM_CPUS (all cores), KIP_RAY_PORT (6379), KIP_DASHBOARD_PORT (8265),
# KIP_STORAGE (./results), MLFLOW_TRACKING_URI (./mlflow.db), KIP_VENV (.venv).
#
# `ray stop` at the end stops every Ray process of this user on the machine, not only this
# head: do not run it beside another local Ray cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

SPEC="${1:-search_spaces/smoke.yaml}"
shift $(( $# > 0 ? 1 : 0 ))
NUM_CPUS="${KIP_NUM_CPUS:-$(nproc)}"
GCS_PORT="${KIP_RAY_PORT:-6379}"
DASHBOARD_PORT="${KIP_DASHBOARD_PORT:-8265}"
# The job runs in a copy of the checkout that Ray deletes afterwards: results and the MLflow
# store must be given absolute paths in the checkout itself (or wherever you point them).
STORAGE="${KIP_STORAGE:-$REPO/results}"
TRACKING_URI="${MLFLOW_TRACKING_URI:-sqlite:///$REPO/mlflow.db}"

# Ray, its workers and the job's `python` all come from the project's venv.
bash scripts/setup.sh
export PATH="$(cd "${KIP_VENV:-.venv}" && pwd)/bin:$PATH"
# Every Ray server on 127.0.0.1 only (Ray's single-machine mode: no other node can join), and
# Ray's token authentication on: `ray start`, `ray job submit` and the job's driver all read
# the token from the file named here (the job may run with another HOME).
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
export RAY_AUTH_MODE=token
export RAY_AUTH_TOKEN_PATH="${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}"
if [ ! -s "$RAY_AUTH_TOKEN_PATH" ]; then
    mkdir -p "$(dirname "$RAY_AUTH_TOKEN_PATH")"
    (umask 077 && python -c "import secrets; print(secrets.token_hex(32), end='')" > "$RAY_AUTH_TOKEN_PATH")
fi

ray start --head --node-ip-address 127.0.0.1 --port "$GCS_PORT" --num-cpus "$NUM_CPUS" \
    --dashboard-host 127.0.0.1 --dashboard-port "$DASHBOARD_PORT" --disable-usage-stats
trap 'ray stop' EXIT

ADDRESS="http://127.0.0.1:$DASHBOARD_PORT"
for _ in $(seq 60); do
    ray job list --address "$ADDRESS" >/dev/null 2>&1 && break
    sleep 1
done

# Excludes add to .gitignore (which Ray applies to the upload already); env_vars reach the
# driver and, through the job's runtime environment, every trial and training worker.
RUNTIME_ENV=$(printf '{"excludes": [".git/"], "env_vars": {"MLFLOW_TRACKING_URI": "%s", "TOKENIZERS_PARALLELISM": "false"}}' "$TRACKING_URI")
ray job submit --address "$ADDRESS" --working-dir . --runtime-env-json "$RUNTIME_ENV" -- \
    python -m platform.sweep "$SPEC" --storage "$STORAGE" "$@"
