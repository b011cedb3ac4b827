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
