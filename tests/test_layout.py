"""Architecture checks: every AST node is handled by every back end; the core stays free of the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

from eligibility import nodes as n
from eligibility.evaluate import _VISITORS
from eligibility.render import _Renderer


@pytest.mark.parametrize("node_type", n.NODE_TYPES, ids=lambda t: t.__name__)
def test_every_node_has_an_evaluator_and_a_renderer(node_type: type[n.Node]) -> None:
    assert node_type in _VISITORS
    assert hasattr(_Renderer, "r_" + node_type.__name__.lower())


def test_rule_union_lists_every_node() -> None:
    kinds = {t.model_fields["kind"].default for t in n.NODE_TYPES}
    assert len(kinds) == len(n.NODE_TYPES)
    for t in n.NODE_TYPES:
        assert issubclass(t, n.Node)


def test_core_does_not_import_cli_libraries() -> None:
    code = "import sys, eligibility, eligibility.api; print(sorted(m for m in ('typer', 'rich') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
