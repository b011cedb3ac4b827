"""The per-test capability table in docs/conformance.md is generated from the markers
and must match them (tpm_hil_fixtures.capability_table, ``--capability-table``)."""

import subprocess
import sys
from pathlib import Path

from tpm_hil_fixtures import capability_table

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "conformance.md"
REGENERATE = ("pytest suites --collect-only -q -p no:cacheprovider "
              "--capability-table docs/conformance.md")


def test_table_rows_merge_parameters_and_markers(pytester):
    pytester.makepyfile(test_x='''
import pytest

@pytest.mark.destructive
@pytest.mark.needs("cc:TPM2_Clear", "hierarchy:lockout")
@pytest.mark.verifies("Clear")
def test_a():
    pass

@pytest.mark.needs("alg:ecc")
@pytest.mark.parametrize("curve", ["p256", pytest.param("bn", marks=pytest.mark.needs("curve:bn_p256"))])
def test_b(curve):
    pass
''')
    out = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:cacheprovider",
                                        "--capability-table", "table.md")
    assert out.ret == 0, out.stdout.str()
    text = (pytester.path / "table.md").read_text()
    assert "| `test_x.py::test_a` | `cc:TPM2_Clear`, `hierarchy:lockout` | yes | Clear |" in text
    assert "| `test_x.py::test_b (×2)` | `alg:ecc`, `curve:bn_p256` |  | - |" in text


def test_write_replaces_only_the_generated_section(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n{capability_table.BEGIN}\nold\n{capability_table.END}\noutro\n")
    capability_table.write(doc, "| new |\n")
    assert doc.read_text() == (f"intro\n{capability_table.BEGIN}\n\n| new |\n\n"
                               f"{capability_table.END}\noutro\n")
    assert capability_table.section(doc) == "| new |\n"


def test_docs_table_matches_the_suites(tmp_path):
    fresh = tmp_path / "table.md"
    done = subprocess.run([sys.executable, "-m", "pytest", "suites", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "--capability-table", str(fresh)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert capability_table.section(DOC) == fresh.read_text(), (
        f"docs/conformance.md's capability table is stale; regenerate it: {REGENERATE}")
