"""``tpmhil report RUN... [-o DIR] [--allure] [--pdf/--no-pdf]``: build the evidence package."""

from __future__ import annotations

import argparse
from pathlib import Path

COMMAND = "report"
HELP = "build the signed compliance evidence package (HTML, PDF, matrix, OSCAL) from results folders"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN",
                        help="results folder(s): a run, a campaign, an audit")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="package folder (default: RUN/report of the first run)")
    parser.add_argument("--allure", action="store_true",
                        help="also render the Allure 3 HTML report into the package")
    parser.add_argument("--pdf", action=argparse.BooleanOptionalAction, default=True,
                        help="print report.pdf with headless Chromium (default: yes)")
    parser.add_argument("--key", type=Path, default=None,
                        help="Ed25519 lab signing key (default $TPMHIL_LAB_KEY or "
                             "~/.config/tpm-hil/lab-ed25519.pem; created if missing)")


def run(args: argparse.Namespace) -> int:
    import json

    from reports.package import build_package

    out = build_package(args.runs, args.output, pdf=args.pdf, allure=args.allure, key_path=args.key)
    totals = json.loads((out / "verdicts.json").read_text())["totals"]
    print(f"evidence package: {out}")
    print(f"requirements: {totals['pass']} pass, {totals['fail']} fail, "
          f"{totals['not covered']} not covered")
    for name in ("report.html", "report.pdf", "traceability.csv", "traceability.xlsx",
                 "assessment-results.json", "allure-report/index.html", "manifest.json"):
        if (out / name).exists():
            print(f"  {out / name}")
    return 0
