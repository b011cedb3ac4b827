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


class _Parser(argparse.ArgumentParser):
    """argparse, plus: with ``--json`` on the command line a usage error is also one JSON
    document ``{"error": ..., "exit": 2}`` on stdout (the line stays on stderr)."""

    def error(self, message):
        self.print_usage(sys.stderr)
        line = f"{self.prog}: error: {message}"
        print(line, file=sys.stderr)
        if _JSON_ARGV:
            _json_error(line, 2)
        raise SystemExit(2)


#: True while parsing a command line that holds ``--json``.
_JSON_ARGV = False


def _json_error(line: str, code: int) -> None:
    """The error as the one JSON document on stdout."""
    from harness.cli.output import emit

    emit({"error": line, "exit": code})


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    global _JSON_ARGV
    parser = build_parser()
    _JSON_ARGV = "--json" in (sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    finally:
        _JSON_ARGV = False
    code = _main(args)
    return code


def _main(args) -> int:
    """Run the command; with ``--json``, an error (exit 2) is also a JSON document on stdout."""
    import io

    if not getattr(args, "json", False):   # add_json_flag's --json or a command's own
        return _dispatch(args)
    err, real = io.StringIO(), sys.stderr

    class _Tee:
        def write(self, text):
            err.write(text)
            return real.write(text)

        def flush(self):
            real.flush()

        def __getattr__(self, name):
            return getattr(real, name)

    from harness.cli import output

    before = output.emitted
    sys.stderr = _Tee()
    try:
        code = _dispatch(args)
    finally:
        sys.stderr = real
    if code == 2 and output.emitted == before:
        lines = [ln for ln in err.getvalue().splitlines() if f"tpmhil {args.command}: " in ln]
        if lines:
            _json_error(lines[-1], 2)
    return code


def _dispatch(args) -> int:
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
        first, _, listing = str(exc).partition("\n")
        print(f"tpmhil {args.command}: error: {' '.join(first.split())}", file=sys.stderr)
        if listing.strip():  # e.g. the accepted target strings: one per line, not one long line
            print(listing.rstrip(), file=sys.stderr)
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
