"""A core install (no extras): the suites run on swtpm, a command whose extra is missing says
which one in one line, and the other commands keep working.

The extras' packages are hidden from every process of the run (tpmhil, its pytest child) by a
``sitecustomize`` on PYTHONPATH: a meta-path finder that answers ModuleNotFoundError for them,
and pytest plugins from non-core distributions left out of the entry points, as when they were
never installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: Import names the extras bring (bus, rigs, audit, reports, lab, parquet, dev).
BLOCKED = ("can", "isotp", "serial", "pyftdi", "smbus2", "spidev", "cobs", "sliplib", "labgrid",
           "matplotlib", "trestle", "openpyxl", "psycopg", "grpc", "psutil", "pyvisa",
           "pyvisa_py", "pymodbus", "pyarrow", "badkeys", "hypothesis", "pytest_postgresql",
           "pytest_benchmark")
#: Distributions whose pytest plugins would not be there without the extras.
NOT_INSTALLED = ("labgrid", "pytest-postgresql", "pytest-benchmark", "hypothesis")

SITECUSTOMIZE = textwrap.dedent('''
    import importlib.metadata as _md
    import sys

    _BLOCKED = set({blocked!r})
    _GONE = set({gone!r})


    class _NotInstalled:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in _BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None


    sys.meta_path.insert(0, _NotInstalled())
    _distributions = _md.distributions


    def _installed(**kw):
        for dist in _distributions(**kw):
            if (dist.metadata["Name"] or "").lower() not in _GONE:
                yield dist


    _md.distributions = _installed
    ''')


@pytest.fixture(scope="module")
def core_only(tmp_path_factory):
    """Environment variables that make every child process a core-only install."""
    folder = tmp_path_factory.mktemp("core-only")
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE.format(blocked=BLOCKED,
                                                                  gone=NOT_INSTALLED))
    return {"PYTHONPATH": str(folder)}


def _with(cli, core_only, args, cwd, timeout=300):
    env = dict(core_only)
    done = cli.run(args, cwd, timeout=timeout, env=env)
    return done


def test_the_blocker_hides_the_extras(cli, core_only, tmp_path):
    done = _with(cli, core_only, ["gateway", "--can", "can://socketcan/vcan0", "--duration", "1"],
                 tmp_path, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == ["tpmhil gateway: error: needs the Python package 'can', which is not "
                     "installed: pip install 'tpm-hil[bus]'"]
    assert "Traceback" not in done.stderr


def test_help_and_the_functional_suite_run_on_the_core_install(cli, core_only, tmp_path):
    helped = _with(cli, core_only, ["--help"], tmp_path, timeout=120)
    assert helped.returncode == 0 and "usage: tpmhil" in helped.stdout, helped.stderr
    done = _with(cli, core_only, ["run", "--suite", "functional", "--tpm", "swtpm", "--results",
                                  str(tmp_path), "--run-id", "core", "--json"], tmp_path, timeout=420)
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(done.stdout)
    assert summary["verdict"] == "PASS" and summary["outcomes"]["passed"] >= 20
    assert summary["report"] is None
    assert "no evidence package: the report needs the Python package 'trestle'" in done.stderr
    assert "pip install 'tpm-hil[reports]'" in done.stderr
    folder = tmp_path / "core"
    for name in ("summary.json", "junit.xml", "command_log.csv", "store.sqlite", "identity.json"):
        assert (folder / name).is_file(), name
    assert not (folder / "report").exists()


def test_a_target_whose_extra_is_missing_names_it(cli, core_only, tmp_path):
    done = _with(cli, core_only, ["run", "--tpm", "can://socketcan/vcan0", "--results",
                                  str(tmp_path)], tmp_path, timeout=120)
    assert done.returncode == 2
    assert "unknown target kind 'can'" in done.stderr
    assert "(not installed: can targets needs the Python package 'can'" in done.stderr
    assert "pip install 'tpm-hil[bus]'" in done.stderr and "Traceback" not in done.stderr
    assert not any(tmp_path.iterdir())  # nothing recorded for a set-up error


def test_a_broken_core_install_is_one_unexpected_line_exit_2(cli, tmp_path):
    """pandas is core, not an extra: its absence is a broken install, reported as one line."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE.format(blocked=("pandas",), gone=()))
    done = cli.run(["trend", str(tmp_path)], tmp_path, timeout=120,
                   env={"PYTHONPATH": str(folder)})
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("tpmhil trend: error: unexpected ModuleNotFoundError: No module "
                           "named 'pandas' at ")
    assert line.endswith("(set TPMHIL_DEBUG=1 for the traceback)")


def test_trend_and_diff_without_matplotlib_keep_their_verdicts(cli, core_only, two_runs, tmp_path):
    diffed = _with(cli, core_only, ["diff", *map(str, two_runs), "--json"], tmp_path, timeout=120)
    assert diffed.returncode == 0, diffed.stderr
    assert cli.only_json(diffed)["plot"] is None
    assert ("note: no plot: matplotlib is not installed (pip install 'tpm-hil[reports]')"
            in diffed.stderr)
    trended = _with(cli, core_only, ["trend", *map(str, two_runs)], tmp_path, timeout=120)
    assert trended.returncode == 0 and "IBM SW TPM" in trended.stdout, trended.stderr
    assert "note: no plots: matplotlib is not installed" in trended.stderr
    assert not (tmp_path / "results").exists()


def test_every_suite_collects_on_the_core_install(core_only, tmp_path):
    """No suite module imports an extra at collection (scipy and the KAT vectors are core)."""
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(repo), core_only["PYTHONPATH"]))}
    env.pop("TPMHIL_TARGET", None)
    done = subprocess.run([sys.executable, "-m", "pytest", str(repo / "suites"), "--collect-only",
                           "-q", "-p", "no:cacheprovider", "--tpm", "swtpm", "--rootdir",
                           str(repo)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    assert len(collected) >= 250 and "error" not in done.stdout.splitlines()[-1]
