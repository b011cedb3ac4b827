"""``tpmhil``: entry point that discovers the subcommand modules."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import traceback

import harness
from harness.cli.output import json_mode, wanted as json_wanted
from harness.errors import HarnessError
from harness.extras import advice


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


#: matplotlib is in several extras: the one that goes with the command.
MATPLOTLIB_EXTRA = {"campaign": "rigs", "audit": "audit"}


def missing_extra(exc: ImportError, command: str) -> str | None:
    """``pip install 'tpm-hil[EXTRA]'`` advice when ``exc`` is an optional package missing."""
    return advice(exc, MATPLOTLIB_EXTRA.get(command, "reports"))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with json_mode(json_wanted(args)):
            return int(args._run(args) or 0)
    except ImportError as exc:
        needs = missing_extra(exc, args.command)
        if needs is None:
            return _unexpected(args.command, exc)
        print(f"tpmhil {args.command}: error: {needs}", file=sys.stderr)
        if os.environ.get("TPMHIL_DEBUG"):
            traceback.print_exception(exc)
        return 2
    except HarnessError as exc:
        print(f"tpmhil {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tpmhil {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed by a pager or `head`: nothing left to say
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen input: one line, exit 2
        return _unexpected(args.command, exc)


def _unexpected(command: str, exc: BaseException) -> int:
    where = _origin(exc)
    print(f"tpmhil {command}: error: unexpected {type(exc).__name__}: "
          f"{' '.join(str(exc).split())[:500]}{where} (set TPMHIL_DEBUG=1 for the traceback)",
          file=sys.stderr)
    if os.environ.get("TPMHIL_DEBUG"):
        traceback.print_exception(exc)
    return 2


def _origin(exc: BaseException) -> str:
    """`` at file:line`` of the innermost frame, for a bug report."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return ""
    return f" at {os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"


if __name__ == "__main__":
    sys.exit(main())
