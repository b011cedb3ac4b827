"""``tpmhil report RUN... [-o DIR] [--key KEY | --sign-with-tpm URI] [--allow-mixed-chips]``:
build the signed evidence package."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from harness.cli.output import add_json_flag, emit

COMMAND = "report"
HELP = "build the signed compliance evidence package (HTML, PDF, matrix, OSCAL) from results folders"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN",
                        help="results folder(s): a run, a campaign, an audit")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="package folder (default: RUN/report of the first run); an existing "
                             "folder is replaced only if it is an unmodified earlier package")
    parser.add_argument("--allure", action=argparse.BooleanOptionalAction, default=None,
                        help="render the Allure 3 report into the package (default: when Allure "
                             "is installed and a run has allure-results)")
    parser.add_argument("--pdf", action=argparse.BooleanOptionalAction, default=True,
                        help="print report.pdf with headless Chromium (default: yes)")
    sign = parser.add_mutually_exclusive_group()
    sign.add_argument("--key", type=Path, default=None,
                      help="Ed25519 lab signing key, which must exist (default $TPMHIL_LAB_KEY, "
                           "else ~/.config/tpm-hil/lab-ed25519.pem, created on first use and "
                           "announced with its fingerprint)")
    sign.add_argument("--new-lab-key", type=Path, default=None, metavar="PATH",
                      help="create a new Ed25519 lab key at PATH (and PATH's .pub.pem) and sign "
                           "with it")
    sign.add_argument("--sign-with-tpm", default=None, metavar="URI",
                      help="sign with a restricted key resident in this TPM's endorsement "
                           "hierarchy (e.g. swtpm, device:///dev/tpmrm0); the package carries "
                           "the key, the EK certificate and the binding record")
    parser.add_argument("--allow-mixed-chips", action="store_true",
                        help="merge runs of different chips (different EK, or manufacturer and "
                             "firmware) into one package")
    add_json_flag(parser, "package folder, requirement verdict totals, signer, files")


def _progress(line: str) -> None:
    print(f"tpmhil report: {line}", file=sys.stderr, flush=True)   # as `tpmhil run` prints its stages


def run(args: argparse.Namespace) -> int:
    import json

    from reports.manifest import create_key, read_manifest
    from reports.package import build_package

    key = args.key
    if args.new_lab_key:
        create_key(args.new_lab_key)
        key = args.new_lab_key
    started = time.monotonic()
    out = build_package(args.runs, args.output, pdf=args.pdf, allure=args.allure, key_path=key,
                        allow_mixed_chips=args.allow_mixed_chips,
                        sign_with_tpm=args.sign_with_tpm, progress=_progress)
    totals = json.loads((out / "verdicts.json").read_text())["totals"]
    _, manifest = read_manifest(out)
    signer = manifest.get("signer", {})
    print(f"evidence package: {out} ({time.monotonic() - started:.1f} s)")
    from reports.assessment import VERDICTS

    print("requirements: " + ", ".join(f"{totals.get(state, 0)} {state}" for state in VERDICTS))
    print(f"signed by: {signer.get('kind')} key {signer.get('fingerprint')}"
          + (f" in TPM with EK {signer.get('ek_public_sha256', '')[:16]}..."
             if signer.get("kind") == "tpm-ecdsa-p256" else ""))
    files = [str(out / name) for name in ("report.html", "report.pdf", "traceability.csv",
                                          "traceability.xlsx", "assessment-results.json",
                                          "allure-report/index.html", "manifest.json")
             if (out / name).exists()]
    for name in files:
        print(f"  {name}")
    if args.json:
        emit({"package": str(out), "requirements": {s: totals.get(s, 0) for s in VERDICTS},
              "signer": signer, "files": files, "exit_code": 0})
    return 0
