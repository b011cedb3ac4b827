"""``tpmhil run``: the suites against a target, into a results folder, with a verdict table."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from harness.cli.output import add_json_flag, emit
from harness.errors import ConfigError, HarnessError, TargetError
from harness.extras import advice
from harness.lab.names import under
from harness.results.run_folder import DEFAULT_BASE, RunFolder, check_base
from harness.tpm.hierarchy_auth import AuthValueError, add_auth_options, auth_environment
from harness.run_suites import SuiteRun, suite_paths
from harness.targets.registry import resolve
from harness.verdict_table import print_verdict

COMMAND = "run"
HELP = "run the TPM suites against a target and write a results folder"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tpm", default=None, metavar="URI",
                   help="target string (default: $TPMHIL_TARGET or swtpm)")
    p.add_argument("--suite", action="append", default=[], metavar="NAME",
                   help="functional (default), conformance, security, attestation, or all; repeatable")
    p.add_argument("--results", default=DEFAULT_BASE, metavar="DIR",
                   help="folder that receives results/<run-id>/ (default: ./results)")
    p.add_argument("--run-id", default=None, help="name of the run folder (default: time-based)")
    p.add_argument("-m", dest="markexpr", default=None, help="pytest marker expression")
    p.add_argument("-k", dest="keyword", default=None, help="pytest keyword expression")
    p.add_argument("-n", "--workers", type=int, default=0, help="pytest-xdist workers (0: serial)")
    p.add_argument("--chip-profile", default=None, help="chip profile name or file")
    p.add_argument("--allow-destructive", default=None, metavar="URI",
                   help="run destructive tests on this non-disposable target")
    p.add_argument("--places", default=None, metavar="MATCH",
                   help="run on every labgrid place matching MATCH, in parallel, into one run")
    p.add_argument("--no-report", action="store_true", help="do not build the report package")
    p.add_argument("--dut", default=None, metavar="SERIAL",
                   help="board / DUT serial for the provenance record (default $TPMHIL_DUT)")
    p.add_argument("--operator", default=None, help="who ran it (default $TPMHIL_OPERATOR)")
    p.add_argument("--lab", default=None, help="lab name (default $TPMHIL_LAB)")
    add_auth_options(p)
    add_json_flag(p, "summary.json plus the results folder, report and exit code; pytest's "
                     "output goes to stderr")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")


def run(args: argparse.Namespace) -> int:
    if args.workers < 0:
        raise ConfigError(f"-n {args.workers}: the number of pytest-xdist workers is 0 (serial) "
                          "or more")
    check_base(args.results)
    try:
        auth_env = auth_environment(args)  # checked here; handed to pytest in its environment
    except AuthValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.places:
        os.environ.update(auth_env)  # each place's `tpmhil run` child reads them from there
        return _run_places(args)
    uri = resolve(args.tpm)  # fail at once on a malformed target string
    if args.workers > 1:
        _refuse_shared_target(uri.text, args.workers)
    paths = suite_paths(args.suite)
    if args.run_id is not None:
        under(args.results, args.run_id, "--run-id")
        if (Path(args.results) / args.run_id).exists():
            raise ConfigError(f"--run-id {args.run_id!r}: {Path(args.results) / args.run_id} "
                              "already exists; choose another id")
    check_setup(uri.text, args.chip_profile)  # exit 2 before anything is recorded
    folder = RunFolder.create(args.results, args.run_id)
    folder.store.set_meta("target_uri", uri.redacted())
    for key in ("dut", "operator", "lab"):   # provenance.json (harness.provenance)
        if getattr(args, key, None):
            folder.store.set_meta(key, getattr(args, key))
    folder.store.set_meta("suites", [str(p) for p in paths])
    print(f"tpmhil run: {uri.redacted()} -> {folder.path}", flush=True)
    code = SuiteRun(
        target=uri.text, folder=folder, paths=paths, markexpr=args.markexpr,
        keyword=args.keyword, workers=args.workers, chip_profile=args.chip_profile,
        allow_destructive=args.allow_destructive, extra=list(args.pytest_args),
        env=auth_env,
    ).run()
    return finish(folder, code, build_report=not args.no_report, as_json=args.json)


def _run_places(args: argparse.Namespace) -> int:
    """The fan-out; with --json its summary.json (every place's verdict) as the document."""
    from harness.lab.fanout import run_places
    from harness.results.run_folder import new_run_id

    run_id = args.run_id or (new_run_id() if args.json else None)
    code = run_places(args.places, _forwarded(args) + (["--run-id", run_id] if run_id else []))
    if args.json:
        folder = Path(args.results) / run_id
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        emit({**summary, "results_folder": str(folder), "exit_code": code})
    return code


def finish(folder: RunFolder, pytest_code: int, build_report: bool = True,
           as_json: bool = False) -> int:
    """Export, summarise, report and print: what every run ends with."""
    folder.export_command_log()
    setup_error = _setup_failure(folder)
    if setup_error is not None:  # the target went away after the check: not a chip verdict
        folder.summarize({"pytest_exit_code": pytest_code, "verdict": "SET-UP ERROR",
                          "setup_error": setup_error})
        folder.close()
        print(f"tpmhil run: error: set-up error, no test could reach the chip: {setup_error} "
              "(results kept, no report signed)", file=sys.stderr)
        return 2
    summary = folder.summarize({"pytest_exit_code": pytest_code})
    _allure_environment(folder)
    report_path = _report(folder) if build_report else None
    if as_json:
        code = exit_code(pytest_code, summary["verdict"])
        emit({**summary, "results_folder": str(folder.path), "exit_code": code,
              "report": str(report_path) if report_path else None})
    else:
        print_verdict(folder, summary, report_path)
        code = exit_code(pytest_code, summary["verdict"])
    folder.close()
    return code


#: Errors that say the target or configuration was unusable, not that the chip misbehaved.
_SETUP_ERRORS = re.compile(r"\b(TargetError|TargetURIError|ProfileError|ConfigError)\b")


def _setup_failure(folder: RunFolder) -> str | None:
    """The first message when every judged test errored at set-up on a set-up error, else None."""
    rows = folder.store.query("SELECT outcome, message FROM tests")
    errors = [m or "" for o, m in rows if o == "error"]
    if not errors or any(o not in ("error", "skipped", "deselected") for o, _ in rows):
        return None
    if not all(_SETUP_ERRORS.search(m[:300]) for m in errors):
        return None
    return " ".join(errors[0].split())[:300]


#: pytest's own exit codes that mean the suites could not be run as asked.
PYTEST_PROBLEMS = {
    2: "pytest was interrupted or could not collect the suites",
    3: "pytest hit an internal error",
    4: "pytest refused its command line (check the extra pytest arguments)",
    5: "no tests were collected (check --suite, -m and -k)",
}


def exit_code(pytest_code: int, verdict: str) -> int:
    """The documented exit code: 0 pass, 1 fail, 2 usage or set-up error.

    pytest's 2-5 (interrupted, internal error, usage error, nothing
    collected) are set-up problems: 2, with one line saying which.
    """
    if pytest_code in (0, 1):
        return {"PASS": 0, "FAIL": 1}.get(verdict, 2)
    reason = PYTEST_PROBLEMS.get(pytest_code, f"pytest ended with exit code {pytest_code}")
    print(f"tpmhil run: error: {reason} (pytest exit code {pytest_code})", file=sys.stderr)
    return 2


def check_setup(target: str, chip_profile: str | None) -> None:
    """Set-up errors before anything is recorded: a missing chip profile, an unreachable target.

    Raises:
        HarnessError: ProfileError, TargetError or TransportError naming the problem.
    """
    from harness.chip_profile import load_profile
    from harness.targets.registry import open_target

    if chip_profile:
        load_profile(chip_profile)
    t = open_target(target)
    try:
        if t.profile_hint and not chip_profile:
            load_profile(t.profile_hint)
        t.open()
    except OSError as exc:
        raise TargetError(f"target {t.uri.redacted()}: unreachable: {exc.strerror or exc}") from None
    finally:
        try:
            t.close()
        except (HarnessError, OSError):
            pass


def _allure_environment(folder: RunFolder) -> None:
    try:
        from reports.allure_env import write
    except ImportError:
        return
    write(folder)


def _report(folder: RunFolder):
    try:
        from reports import build_package
    except ImportError as exc:
        needs = advice(exc)
        if needs is None:
            raise
        print(f"tpmhil run: no evidence package: the report {needs} (the results folder "
              f"{folder.path} is complete; `tpmhil report` builds the package later)",
              file=sys.stderr)
        return None
    try:
        return build_package([folder.path], None, progress=_report_progress)
    except Exception as exc:  # the results are on disk whatever the report does
        print(f"tpmhil run: report not built: {exc}", file=sys.stderr)
        return None


def _report_progress(line: str) -> None:
    """The package's stage lines, prefixed like every other line of `tpmhil run`."""
    print(f"tpmhil run: {line}", file=sys.stderr, flush=True)


def _forwarded(args: argparse.Namespace) -> list[str]:
    out = []
    for flag, value in (("--suite", args.suite), ("--results", args.results), ("-m", args.markexpr),
                        ("-k", args.keyword), ("--chip-profile", args.chip_profile)):
        if isinstance(value, list):
            for v in value:
                out += [flag, v]
        elif value:
            out += [flag, value]
    return out


def _refuse_shared_target(text: str, workers: int) -> None:
    """``-n N`` on one physical chip: refused before anything is recorded."""
    from harness.targets.registry import open_target
    from harness.targets.sharing import PER_WORKER_FORMS, per_worker

    target = open_target(text)  # built, not opened: nothing is started or touched
    if not per_worker(target):
        raise ConfigError(f"-n {workers}: target {target.uri.redacted()} is one TPM that all "
                          f"{workers} pytest-xdist workers would drive at once; run it without "
                          f"-n, or use a target that gives each worker its own TPM "
                          f"({PER_WORKER_FORMS})")
