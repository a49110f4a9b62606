"""The core's list of the harness's options (pytest_tokencost.addons), which it names when the
harness is not installed, is the harness's own list."""

from __future__ import annotations

import ast

from pytest_tokencost.addons import HARNESS_OPTIONS, HARNESS_PLUGIN

from ..conftest import REPO


def test_the_core_names_exactly_the_harness_options() -> None:
    tree = ast.parse((REPO / "harness" / "calibrate" / "plugin.py").read_text(encoding="utf-8"))
    declared = [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "addoption"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ]
    assert sorted(declared) == sorted(HARNESS_OPTIONS)


def test_the_plugin_name_is_the_harness_entry_point() -> None:
    from importlib.metadata import entry_points

    (entry,) = entry_points(group="pytest11", name=HARNESS_PLUGIN)
    assert entry.value == "calibrate.plugin"
