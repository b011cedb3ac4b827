"""Every conformance test names its spec section and requirement ids, carries
the ``conformance`` marker, and every ``negative`` test's module asserts codes."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "suites" / "conformance"

# Collect in a child process (pytest cannot nest in one process) and dump markers.
_SCRIPT = """
import json, sys, pytest
out = []
class C:
    def pytest_collection_modifyitems(self, items):
        for i in items:
            out.append({"nodeid": i.nodeid, "path": str(i.fspath),
                        "markers": sorted({m.name for m in i.iter_markers()}),
                        "requirements": [str(a) for m in i.iter_markers("requirement")
                                         for a in m.args]})
rc = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", sys.argv[1]], plugins=[C()])
print("@@" + json.dumps({"rc": int(rc), "items": out}))
"""


@pytest.fixture(scope="module")
def items():
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(SUITE)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@")]
    assert line, f"collection produced no result: {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
    data = json.loads(line[-1][2:])
    assert data["rc"] == 0, "the conformance suite does not collect"
    return [SimpleNamespace(**i) for i in data["items"]]


def test_suite_collects_many_tests(items):
    assert len(items) >= 150


def test_every_test_has_spec_requirement_and_area_marker(items):
    missing = []
    for item in items:
        names = set(item.markers)
        if not {"spec", "requirement", "conformance"} <= names:
            missing.append(f"{item.nodeid}: {sorted({'spec', 'requirement', 'conformance'} - names)}")
        for req in item.requirements:
            assert req.startswith(("IEC62443-4-2:", "FIPS140-3:")), (item.nodeid, req)
    assert not missing, "\n".join(missing)


def test_negative_tests_exist_in_every_area(items):
    areas = {Path(i.path).parent.name for i in items if "negative" in i.markers}
    assert {"crypto", "sessions", "nv", "lifecycle", "attestation", "robustness"} <= areas


# ESAPI calls whose success changes a board for good (or until its next reset).
BOARD_CHANGING = ("clock_set(", "clock_rate_adjust(", "nv_global_write_lock(",
                  "set_command_code_audit_status(", "dictionary_attack_parameters(",
                  "dictionary_attack_lock_reset(", "hierarchy_change_auth(",
                  "hierarchy_control(", "set_primary_policy(", ".clear(", "clear_control(",
                  "change_pps(", "change_eps(", "pcr_allocate(", "set_algorithm_set(",
                  "power_cycle(", ".shutdown(", "pcr_set_auth_policy(", "pcr_set_auth_value(")


def _function_sources(path: str) -> dict[str, str]:
    import ast

    text = Path(path).read_text()
    tree = ast.parse(text)
    return {node.name: ast.get_source_segment(text, node) or "" for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef)}


def test_board_changing_calls_are_destructive_or_refusals(items):
    """A test that may succeed with a board-changing command is ``destructive`` (negative
    tests expect the command refused; the board-safety test in tests/board checks the
    rest at run time)."""
    sources: dict[str, dict[str, str]] = {}
    wrong = []
    for item in items:
        if {"destructive", "negative"} & set(item.markers):
            continue
        name = item.nodeid.split("::")[-1].split("[")[0]
        body = sources.setdefault(item.path, _function_sources(item.path)).get(name, "")
        called = [c for c in BOARD_CHANGING if c in body]
        if called:
            wrong.append(f"{item.nodeid}: {', '.join(called)}")
    assert not wrong, "board-changing calls in non-destructive tests:\n" + "\n".join(sorted(set(wrong)))
