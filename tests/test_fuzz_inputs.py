"""Property-based tests: mutated specs and files never crash; they fail with exit 2 and a
message naming the field or file (and line), never a stack trace."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform.cli import main_guard
from platform.sweep import main as sweep_main
from tests.conftest import REPO

BASE = yaml.safe_load((REPO / "search_spaces" / "defaults.yaml").read_text())
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
)


def leaf_paths(data, prefix=()):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from leaf_paths(value, (*prefix, key))
        yield (*prefix, key)


PATHS = sorted(leaf_paths(BASE))


def run_sweep_cli(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main_guard(sweep_main)(args)
    return code, err.getvalue()


@st.composite
def mutated_specs(draw):
    spec = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        node = spec
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                break
        else:
            action = draw(st.sampled_from(["replace", "delete", "unknown"]))
            if action == "replace":
                node[path[-1]] = draw(SCALARS)
            elif action == "delete":
                node.pop(path[-1], None)
            else:
                node[draw(st.text("abcxyz_", min_size=1, max_size=8)) + "_x"] = draw(SCALARS)
    return spec


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=mutated_specs())
def test_mutated_specs_fail_cleanly(tmp_path, spec):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    code, err = run_sweep_cli([str(path), "--dry-run"])
    assert code in (0, 2), err
    if code == 2:
        assert err.startswith("error: ") and "Traceback" not in err
        # the error names the file, or the field of the spec that is wrong (its dotted path)
        fields = {".".join(path) for path in PATHS if len(path) > 1}
        assert "spec.yaml" in err or any(field in err for field in fields), err


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_as_a_spec_fail_cleanly(tmp_path, raw):
    path = tmp_path / "spec.yaml"
    path.write_bytes(raw)
    code, err = run_sweep_cli([str(path), "--dry-run"])
    assert code in (0, 2), err
    if code == 2:
        assert "spec.yaml" in err and "Traceback" not in err


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(
        st.one_of(
            st.text(max_size=40),
            st.dictionaries(st.sampled_from(["group", "task", "question", "answer", "x"]), SCALARS),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_jsonl_test_files_fail_with_file_and_line(tmp_path, lines):
    from platform.data.paper_files import load_test_file
    from platform.errors import UserError

    path = tmp_path / "ND_test.jsonl"
    path.write_text("\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines))
    try:
        load_test_file(path, "name_description")
    except UserError as error:
        assert "ND_test.jsonl" in str(error)


def test_huge_and_empty_specs(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    code, err = run_sweep_cli([str(empty), "--dry-run"])
    assert code == 2 and "empty.yaml: the spec file is empty" in err
    huge = tmp_path / "huge.yaml"
    huge.write_text("train:\n  lr: " + "9" * 100_000 + "\n")
    code, err = run_sweep_cli([str(huge), "--dry-run"])
    assert code == 2 and "huge.yaml" in err and "Traceback" not in err
