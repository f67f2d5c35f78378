"""The layers import one way (``tests/import_layers.py`` says which and why); a new module gets
a layer before it lands."""

from __future__ import annotations

from tests.import_layers import graph, layer_of, unassigned, upward_imports


def test_no_module_imports_a_layer_above_its_own():
    bad = upward_imports(graph())
    assert not bad, "upward imports (move the code down, or pass it in):\n" + "\n".join(
        f"  {module} ({layer_of(module)}) -> {target} ({layer_of(target)})" for module, target in bad
    )


def test_every_module_has_a_layer():
    assert unassigned(graph()) == []


def test_the_checker_sees_function_level_and_from_package_imports(tmp_path):
    (tmp_path / "platform" / "data").mkdir(parents=True)
    (tmp_path / "objectives").mkdir()
    for package in ("platform", "platform/data", "objectives"):
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "platform" / "sweep.py").write_text("")
    (tmp_path / "objectives" / "base.py").write_text("")
    (tmp_path / "platform" / "data" / "stream.py").write_text(
        "def lazy():\n    from objectives.base import Objective\n\nfrom platform import sweep\n"
    )
    assert upward_imports(graph(tmp_path)) == [
        ("platform.data.stream", "objectives.base"),
        ("platform.data.stream", "platform.sweep"),
    ]
