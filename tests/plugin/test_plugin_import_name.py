"""The plugin imports as ``tpm_hil_fixtures``, so PyPI's ``fixtures`` (common in
test stacks) can live in the same environment (issue: ecosystem fit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_pypi_fixtures_and_the_plugin_live_side_by_side(tmp_path):
    """PyPI's fixtures is installed in the test environment (dev extra); a run from
    outside the checkout imports it and still loads and uses tpm-hil's plugin."""
    # (In this process the checkout's own folder may shadow the name: `python -m pytest`
    # puts the working folder first. A user's run starts elsewhere.)
    script = ("import sys, fixtures, pytest\n"
              "assert hasattr(fixtures, 'Fixture'), fixtures.__file__\n"
              "sys.exit(pytest.main(sys.argv[1:]))\n")
    out = subprocess.run(
        [sys.executable, "-c", script, str(ROOT / "suites" / "functional" / "test_random.py"),
         "--tpm", "swtpm", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "tpm-hil" not in out.stderr


def test_the_entry_point_names_the_plugin_package():
    from importlib.metadata import entry_points

    (plugin,) = [e for e in entry_points(group="pytest11") if e.name == "tpm_hil"]
    assert plugin.value == "tpm_hil_fixtures.plugin"
    assert Path(plugin.load().__file__).parent == ROOT / "fixtures"
