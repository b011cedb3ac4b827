"""``tpmhil``: entry point that discovers the subcommand modules."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import harness
from harness.errors import HarnessError


def _subcommands():
    package = importlib.import_module("harness.cli")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("cmd_"):
            yield importlib.import_module(f"harness.cli.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tpmhil",
        description="Hardware-in-the-loop test harness for TPM 2.0 chips.",
    )
    parser.add_argument("--version", action="version", version=f"tpm-hil {harness.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in _subcommands():
        p = sub.add_parser(module.COMMAND, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except HarnessError as exc:
        print(f"tpmhil {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tpmhil {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
