"""``tpmhil verify PACKAGE [--key PUBLIC_KEY]``: check an evidence package's manifest and signature."""

from __future__ import annotations

import argparse
from pathlib import Path

COMMAND = "verify"
HELP = "check every file digest and the Ed25519 signature of an evidence package"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("package", type=Path, metavar="PACKAGE", help="evidence package folder")
    parser.add_argument("--key", type=Path, default=None,
                        help="the lab's trusted public key (PEM); without it the key shipped in "
                             "the package is used, which proves integrity but not origin")


def run(args: argparse.Namespace) -> int:
    from reports.manifest import verify_package

    result = verify_package(args.package, args.key)
    for label, names in (("changed", result.changed), ("missing", result.missing),
                         ("added", result.added)):
        for name in names:
            print(f"{label}: {name}")
    for problem in result.problems:
        print(f"problem: {problem}")
    state = "OK" if result.ok else "FAILED"
    print(f"{args.package}: {state}: {result.checked} files listed, {len(result.changed)} changed, "
          f"{len(result.missing)} missing, {len(result.added)} added; signature "
          f"{'valid' if result.signature_ok else 'INVALID'} under the {result.key_source} "
          f"(sha256 {result.key_fingerprint[:16]}...)")
    return 0 if result.ok else 1
