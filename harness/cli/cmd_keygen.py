"""``tpmhil keygen PATH``: create the lab's Ed25519 evidence-signing key, explicitly."""

from __future__ import annotations

import argparse
from pathlib import Path

COMMAND = "keygen"
HELP = "create a new Ed25519 lab signing key (PATH, mode 0600) and its public key (PATH .pub.pem)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, metavar="PATH",
                        help="where the private key goes (never overwritten)")


def run(args: argparse.Namespace) -> int:
    from reports.manifest import create_key, fingerprint, public_key_path

    key = create_key(args.path, announce=lambda line: None)
    print(f"lab signing key: {args.path} (Ed25519)")
    print(f"public key:      {public_key_path(args.path)}  <- give this to verifiers "
          "(tpmhil verify --key)")
    print(f"fingerprint:     {fingerprint(key.public_key())}")
    return 0
