"""Cluster definitions (clusters/) and every spec under search_spaces/, checked without a cloud.

Why these checks: a cluster file is only exercised when someone pays for GPUs, so its
mistakes (a renamed script, a spec path that moved, nodes disagreeing on RAY_AUTH_MODE, an
MLflow server open to the world) must be caught here, by parsing, by Ray's own launcher
schema, and by dry-running every spec the way a user would.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from platform import sweep
from platform.errors import UserError
from platform.spec import load_spec
from tests.conftest import REPO

CLUSTERS = REPO / "clusters"
LAUNCHERS = [CLUSTERS / "aws-gpu.yaml", CLUSTERS / "gcp-gpu.yaml"]
KUBERAY = {
    CLUSTERS / "kuberay-raycluster.yaml": "RayCluster",
    CLUSTERS / "kuberay-rayjob.yaml": "RayJob",
}
LOCAL_SCRIPT = CLUSTERS / "local.sh"
SPECS = sorted((REPO / "search_spaces").rglob("*.yaml"))
COMMAND_KEYS = (
    "initialization_commands",
    "setup_commands",
    "head_setup_commands",
    "worker_setup_commands",
    "head_start_ray_commands",
    "worker_start_ray_commands",
)

# A repository path: starts with a top-level folder of the repo, is not part of a longer path
# or URL, and ends on a word character (so trailing punctuation in prose is not taken).
REPO_PATH = re.compile(r"(?<![\w/.~-])(?:scripts|search_spaces|clusters|platform|objectives|tests)/[\w./-]*\w")
AUTH_MODE = re.compile(r"\bRAY_AUTH_MODE=(\w+)")
ALL_INTERFACES = ("0.0.0.0", "::", "[::]")


def load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def cluster_files() -> list[Path]:
    return sorted(p for p in CLUSTERS.iterdir() if p.is_file())


def launcher_commands(config: dict) -> list[str]:
    return [cmd for key in COMMAND_KEYS for cmd in config.get(key, [])]


def pod_containers(manifest: dict) -> dict[str, dict]:
    """Every container of a RayCluster or RayJob, by a readable name."""
    spec = manifest["spec"]
    cluster = spec.get("rayClusterSpec", spec)
    found = {f"head/{c['name']}": c for c in cluster["headGroupSpec"]["template"]["spec"]["containers"]}
    for group in cluster["workerGroupSpecs"]:
        found.update({f"{group['groupName']}/{c['name']}": c for c in group["template"]["spec"]["containers"]})
    for c in (spec.get("submitterPodTemplate") or {}).get("spec", {}).get("containers", []):
        found[f"submitter/{c['name']}"] = c
    return found


def env_value(container: dict, name: str):
    for item in container.get("env", []):
        if item["name"] == name:
            return item.get("value", item.get("valueFrom"))
    return None


# --- parsing and Ray's launcher schema ----------------------------------------------------


@pytest.mark.parametrize("path", [p for p in cluster_files() if p.suffix == ".yaml"], ids=lambda p: p.name)
def test_cluster_yaml_parses(path):
    assert isinstance(load(path), dict)


@pytest.mark.parametrize("path", LAUNCHERS, ids=lambda p: p.name)
def test_launcher_config_passes_rays_schema(path):
    # Ray's own checks for `ray up` (private API, pinned with ray==2.60.0): unknown keys,
    # node types, docker options. No cloud call is made.
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(load(path)))


@pytest.mark.parametrize("path", LAUNCHERS, ids=lambda p: p.name)
def test_launcher_commands_are_valid_bash(path, tmp_path):
    for number, command in enumerate(launcher_commands(load(path))):
        script = tmp_path / f"command{number}.sh"
        script.write_text(command)
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{command!r}: {result.stderr}"


@pytest.mark.parametrize("path", LAUNCHERS, ids=lambda p: p.name)
def test_launcher_sets_one_auth_mode_wherever_ray_starts(path):
    config = load(path)
    modes = set()
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        starts = [cmd for cmd in config[key] if "ray start" in cmd]
        assert starts, f"{key} never runs `ray start`"
        for cmd in starts:
            found = AUTH_MODE.findall(cmd)
            assert found, f"{key}: `ray start` without RAY_AUTH_MODE: {cmd!r}"
            modes.update(found)
    assert len(modes) == 1, f"head and workers disagree on RAY_AUTH_MODE: {modes}"
    if modes == {"token"}:  # every node then needs the same token file
        assert "~/.ray/auth_token" in config["file_mounts"]


@pytest.mark.parametrize("path", LAUNCHERS, ids=lambda p: p.name)
def test_launcher_installs_through_setup_script_and_never_the_package(path):
    setup = " ".join(load(path)["setup_commands"])
    assert "scripts/setup.sh" in setup and "KIP_TORCH=" in setup
    assert not re.search(r"pip install[^&;|]*\s(-e\s+)?\.(\s|$)", setup), "the platform must not be pip-installed"


# --- KubeRay -------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "kind"), KUBERAY.items(), ids=lambda v: getattr(v, "name", v))
def test_kuberay_manifest_kind_and_gpu_workers(path, kind):
    manifest = load(path)
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", kind)
    cluster = manifest["spec"]["rayClusterSpec"] if kind == "RayJob" else manifest["spec"]
    assert cluster["rayVersion"] == "2.60.0"
    gpus = []
    for group in cluster["workerGroupSpecs"]:
        for container in group["template"]["spec"]["containers"]:
            limits = container["resources"]["limits"]
            gpus.append(int(limits.get("nvidia.com/gpu", 0)))
    assert gpus and all(n > 0 for n in gpus), f"worker groups without GPUs: {gpus}"


@pytest.mark.parametrize("path", list(KUBERAY), ids=lambda p: p.name)
def test_kuberay_containers_agree_on_auth_mode(path):
    containers = pod_containers(load(path))
    modes = {name: env_value(c, "RAY_AUTH_MODE") for name, c in containers.items()}
    assert None not in modes.values(), f"RAY_AUTH_MODE missing: {modes}"
    assert len(set(modes.values())) == 1, f"containers disagree on RAY_AUTH_MODE: {modes}"
    for name, container in containers.items():
        if modes[name] == "token":
            assert env_value(container, "RAY_AUTH_TOKEN") == {
                "secretKeyRef": {"name": "kip-ray-token", "key": "auth_token"}
            }
        if not name.startswith("submitter/"):
            assert env_value(container, "MLFLOW_TRACKING_URI"), f"{name}: no MLFLOW_TRACKING_URI"
            hf = env_value(container, "HF_TOKEN")
            assert hf is None or "secretKeyRef" in hf, f"{name}: HF_TOKEN must come from a Secret"


def test_rayjob_runs_a_spec_of_this_repo_from_its_working_dir():
    spec = load(CLUSTERS / "kuberay-rayjob.yaml")["spec"]
    argv = shlex.split(spec["entrypoint"])
    assert argv[:3] == ["python", "-m", "platform.sweep"]
    assert (REPO / argv[3]).is_file(), f"the entrypoint's spec {argv[3]} is not in the repo"
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert runtime_env["working_dir"] and runtime_env["env_vars"]
    assert not {"HF_TOKEN", "RAY_AUTH_TOKEN"} & set(runtime_env["env_vars"]), "secrets belong in Secrets"


# --- every cluster file --------------------------------------------------------------------


@pytest.mark.parametrize("path", cluster_files(), ids=lambda p: p.name)
def test_repo_paths_named_in_cluster_files_exist(path):
    text = path.read_text(encoding="utf-8")
    missing = sorted({p for p in REPO_PATH.findall(text) if not (REPO / p).exists()})
    assert not missing, f"{path.name} names paths that are not in the repo: {missing}"


@pytest.mark.parametrize("path", [p for p in cluster_files() if p.suffix in (".yaml", ".sh")], ids=lambda p: p.name)
def test_cluster_definition_sets_ray_auth_mode(path):
    assert AUTH_MODE.search(path.read_text(encoding="utf-8")) or "name: RAY_AUTH_MODE" in path.read_text(
        encoding="utf-8"
    )


@pytest.mark.parametrize("path", cluster_files(), ids=lambda p: p.name)
def test_mlflow_is_never_bound_to_all_interfaces(path):
    text = path.read_text(encoding="utf-8")
    commands = launcher_commands(load(path)) if path.suffix == ".yaml" and path in LAUNCHERS else text.splitlines()
    for command in commands:
        if not re.search(r"\bmlflow\s+(server|ui)\b", command):
            continue
        host = re.search(r"(?:--host|-h)[=\s]+(\S+)", command)
        assert host is None or host.group(1).strip("'\"") not in ALL_INTERFACES, command
    # Comments may explain why not; the definitions themselves never use it.
    if path.suffix == ".yaml":
        definition = yaml.safe_dump(load(path))
    elif path.suffix == ".sh":
        definition = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    else:
        return
    assert "0.0.0.0" not in definition, f"{path.name} opens something on every interface"


@pytest.mark.parametrize("path", sorted(LAUNCHERS), ids=lambda p: p.name)
def test_the_mlflow_server_a_launcher_starts_runs_no_job_runner(path):
    """MLflow's job runner starts eight Huey consumers for its GenAI jobs, a few CPU-seconds each
    at every server start, which the platform never uses."""
    servers = [c for c in launcher_commands(load(path)) if re.search(r"\bmlflow\s+server\b", c)]
    assert servers, f"{path.name} starts no mlflow server"
    for command in servers:
        assert re.search(r"MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false\s+nohup\s+\S*mlflow\s+server", command), command


def test_local_script_is_valid_bash():
    if not LOCAL_SCRIPT.exists():
        pytest.skip("no clusters/local.sh")
    result = subprocess.run(["bash", "-n", str(LOCAL_SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- specs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(REPO / "search_spaces")))
def test_spec_dry_runs(path, capsys):
    """In-process, as the CLI: every spec dry-runs here with all its checks, except those whose
    data or GPUs exist only on a cluster: they pass the spec-only checks, and the full dry run
    refuses them here naming what is missing (data.path, or the GPUs under resources)."""
    spec = load_spec(path)
    on_cluster_only = spec.data.source == "paper" or spec.resources.gpus_per_worker > 0
    if not on_cluster_only:
        assert sweep.main([str(path), "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert "trial(s)" in out and "resources: local Ray cluster" in out and "questions" in out
        return
    assert sweep.main([str(path), "--dry-run", "--spec-only"]) == 0
    assert "trial(s)" in capsys.readouterr().out
    with pytest.raises(UserError, match=r"^(data\.path|resources)"):
        sweep.main([str(path), "--dry-run"])


@pytest.mark.parametrize("path", sorted((REPO / "search_spaces" / "paper").glob("*.yaml")), ids=lambda p: p.name)
def test_paper_specs_follow_the_papers_recipe(path):
    spec = load_spec(path)
    train = spec.train
    assert (
        train.batch_size,
        train.warmup_ratio,
        train.weight_decay,
        tuple(train.betas),
        train.grad_clip,
    ) == (64, 0.02, 0.1, (0.9, 0.95), 1.0)
    assert train.lr == (3e-6 if spec.objective.name == "masked_ar" and "Llama-3.1-8B" in spec.model.path else 5e-6)
    assert (spec.model.source, spec.model.dtype, spec.data.source) == (
        "huggingface",
        "bfloat16",
        "paper",
    )
    assert spec.model.mask_token and spec.eval.max_new_tokens == 128
    assert spec.resources.gpus_per_worker == 1 and spec.resources.strategy == "deepspeed"
    assert spec.train.batch_size % spec.resources.num_workers == 0, "DeepSpeed needs equal micro-batches"
