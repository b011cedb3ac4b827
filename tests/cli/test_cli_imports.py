"""``tpmhil --help`` and every ``tpmhil COMMAND --help`` load no heavy or optional package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Packages that only the command that needs them may import (pandas and numpy are core,
#: but slow: the help must not wait for them).
HEAVY = ("pandas", "numpy", "scipy", "matplotlib", "can", "isotp", "serial", "pyftdi", "smbus2",
         "labgrid", "psycopg", "grpc", "psutil", "trestle", "openpyxl", "pyvisa", "pymodbus",
         "pyarrow", "badkeys", "rigs", "reports")

PROBE = """
import argparse, contextlib, io, json, sys
from harness.cli.main import build_parser
parser = build_parser()
helps = [parser.format_help()]
for action in parser._actions:
    if isinstance(action, argparse._SubParsersAction):
        helps += [sub.format_help() for sub in action.choices.values()]
print(json.dumps({"helps": len(helps), "loaded": sorted({m.split('.')[0] for m in sys.modules})}))
"""


def test_building_every_help_text_imports_nothing_heavy():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["helps"] >= 14  # the top level and every subcommand
    assert [m for m in HEAVY if m in report["loaded"]] == []


def _imported(args: list[str]) -> set[str]:
    """Top-level modules a real ``tpmhil ARGS`` imported (python -X importtime)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "harness.cli.main", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage: tpmhil" in done.stdout
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "harness" in names  # the probe sees imports at all
    return names


def test_tpmhil_help_does_not_import_pandas():
    assert [m for m in HEAVY if m in _imported(["--help"])] == []


def test_trend_help_does_not_import_pandas():
    assert [m for m in HEAVY if m in _imported(["trend", "--help"])] == []
