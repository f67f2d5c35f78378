"""The `platform` package must stand in for the standard module everywhere it is imported."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from tests.conftest import REPO


def test_package_is_the_standard_module_plus_ours():
    import platform

    assert hasattr(platform, "__path__"), "the repo's package must shadow the standard module"
    assert platform.system() == "Linux"
    assert pickle.loads(pickle.dumps(platform.uname())) == platform.uname()
    import platform.spec  # noqa: F401  our submodules import alongside


def test_fresh_interpreter_from_repo_root_gets_both():
    code = (
        "import platform, uuid, torch; platform.system(); uuid.uuid4(); import platform.spec; print(platform.machine())"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()


@pytest.mark.integration
def test_ray_worker_imports_platform_submodule(shared_cluster):
    import ray

    from platform.cluster import runtime_env

    ray.init(address=shared_cluster["RAY_ADDRESS"], runtime_env=runtime_env(), log_to_driver=False)
    try:

        @ray.remote
        def probe() -> tuple[str, str]:
            import platform
            import platform.spec

            return platform.system(), platform.spec.__name__

        assert ray.get(probe.remote()) == ("Linux", "platform.spec")
    finally:
        ray.shutdown()
