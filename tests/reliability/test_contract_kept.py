"""The contract run stays: schemathesis against the fake, bounded, over every operation.

The run itself lives in tests/testing/test_fake_schemathesis.py (the fake's own suite, part of
`make test`); it is not repeated here. These checks fail if it is deleted, skipped, narrowed to
some operations, left unbounded or made random, or stops validating the answers.
"""

from __future__ import annotations

import ast

from tests.reliability.reliability_support import ROOT

CONTRACT_TEST = ROOT / "tests" / "testing" / "test_fake_schemathesis.py"
MAX_EXAMPLES_BOUND = 200


def contract_tree() -> ast.Module:
    assert CONTRACT_TEST.is_file(), f"the schemathesis contract test is gone: {CONTRACT_TEST}"
    return ast.parse(CONTRACT_TEST.read_text(encoding="utf-8"))


def test_the_contract_test_validates_every_operation_it_generates():
    tree = contract_tree()
    tests = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]
    parametrized = [
        test
        for test in tests
        if any(ast.unparse(d) == "schema.parametrize()" for d in test.decorator_list)
    ]
    assert parametrized, "no test is parametrized by the schema"
    for test in parametrized:
        calls = {ast.unparse(n.func) for n in ast.walk(test) if isinstance(n, ast.Call)}
        assert "case.call_and_validate" in calls
    code = ast.unparse(tree)
    for narrowing in ("pytest.mark.skip", "pytest.skip(", "xfail", ".include(", ".exclude("):
        assert narrowing not in code, f"the contract run is narrowed: {narrowing}"


def test_the_contract_run_is_bounded_and_deterministic():
    generation = None
    for node in ast.walk(contract_tree()):
        if isinstance(node, ast.Dict):
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
            if "max-examples" in keys:
                generation = {
                    k.value: ast.literal_eval(v)
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant)
                }
    assert generation is not None, "no generation settings: schemathesis' default is unbounded"
    assert generation.get("deterministic") is True
    assert 1 <= generation["max-examples"] <= MAX_EXAMPLES_BOUND
