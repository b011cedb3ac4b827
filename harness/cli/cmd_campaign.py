"""``tpmhil campaign FILE [--resume [RUN_DIR]] [--results DIR]``."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from harness.cli.output import add_json_flag, emit
from harness.errors import ConfigError, HarnessError
from harness.results.run_folder import DEFAULT_BASE, RunFolder, new_run_id
from harness.results.store import STORE_FILE

COMMAND = "campaign"
HELP = "run an environmental campaign (chamber, supply, suites at each point); resumable"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="campaign YAML file (e.g. rigs/campaigns/demo-thermal.yaml)")
    parser.add_argument("--results", default=DEFAULT_BASE, metavar="DIR",
                        help="base folder for results (default: results)")
    parser.add_argument("--resume", nargs="?", const="latest", default=None, metavar="RUN_DIR",
                        help="continue an interrupted campaign: its folder, or the latest one "
                             "of this campaign under --results")
    parser.add_argument("--efp-rounds", type=int, default=3,
                        help="known-answer rounds of the EFP/EFT check at each point")
    add_json_flag(parser, "summary with verdict and counts, one row per point, results folder")


def _campaign_of(folder: Path) -> tuple[str | None, str | None]:
    """(kind, campaign_name) from a results folder's store, read-only; (None, None) if unreadable."""
    from harness.lab.store_reader import StoreReader

    try:
        with StoreReader(folder) as store:
            meta = store.meta()
    except HarnessError:
        return None, None
    return meta.get("kind"), meta.get("campaign_name")


def _latest(base: Path, name: str) -> Path:
    found = [store_file.parent for store_file in sorted(base.glob(f"*/{STORE_FILE}"))
             if _campaign_of(store_file.parent) == ("campaign", name)]
    if not found:
        raise ConfigError(f"--resume: no results folder of campaign {name!r} under {base}")
    return found[-1]


def _resume_folder(path: Path, name: str) -> Path:
    """``path`` if it is a results folder of campaign ``name``, else ConfigError."""
    if not (path / STORE_FILE).is_file():
        raise ConfigError(f"--resume {path}: not a results folder (no {STORE_FILE})")
    kind, campaign = _campaign_of(path)
    if kind != "campaign":
        raise ConfigError(f"--resume {path}: a {kind or 'unreadable'} results folder, not a "
                          "campaign's; start a new campaign instead")
    if campaign != name:
        raise ConfigError(f"--resume {path}: holds campaign {campaign!r}, not {name!r}")
    return path


def _interrupt(signum, frame) -> None:  # noqa: ANN001
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from rigs.campaign.analysis import analyze
    from rigs.campaign.model import load_campaign
    from rigs.campaign.runner import CampaignRunner, pick_target
    from rigs.campaign.verdict import EXIT, campaign_verdict

    campaign = load_campaign(args.file)
    pick_target(campaign.targets)  # a set-up error: before any results folder exists
    if args.resume is None:
        folder = RunFolder.create(args.results, new_run_id(f"{campaign.name}-"), kind="campaign")
    else:
        path = (_latest(Path(args.results), campaign.name) if args.resume == "latest"
                else _resume_folder(Path(args.resume), campaign.name))
        folder = RunFolder(path)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # kill -TERM: safe state, then stop
    try:
        CampaignRunner(campaign, folder, efp_rounds=args.efp_rounds).run()
        table = analyze(folder.path)
        folder.export_command_log()
        stress = table.stressed.fillna(False).astype(bool)
        counts = {
            "efp_failures": int((table.efp_verdict == "FAIL").sum()),
            "nominal_point_test_failures": int(table.failed[~stress].fillna(0).sum()),
            "stressed_point_test_failures": int(table.failed[stress].fillna(0).sum()),
            "harness_errors": int(table.harness_errors.fillna(0).sum()),
            "nominal_point_harness_errors": int(table.harness_errors[~stress].fillna(0).sum()),
        }
        verdict = campaign_verdict(counts["efp_failures"], counts["nominal_point_test_failures"],
                                   counts["nominal_point_harness_errors"],
                                   int(table.tests.fillna(0).sum()))
        summary = folder.summarize({"campaign": campaign.name, **counts, "verdict": verdict})
    finally:
        signal.signal(signal.SIGTERM, previous)
        folder.close()
    cols = [c for c in ("label", "temperature_c", "voltage_v", "out_of_range", "tests", "pass_rate",
                        "latency_p50_ms", "latency_p95_ms", "retries", "efp_verdict") if c in table]
    print(table[cols].to_string(float_format=lambda v: f"{v:.3g}"))
    print(f"verdict {summary['verdict']}  outcomes {summary['outcomes']}  "
          f"test failures at nominal points {summary['nominal_point_test_failures']}, at stressed "
          f"points {summary['stressed_point_test_failures']}  EFP/EFT failures (wrong answers) "
          f"{summary['efp_failures']}  harness errors (not counted against the chip) "
          f"{summary['harness_errors']}  results {folder.path}")
    if args.json:
        points = table[cols].astype(object).where(table[cols].notna(), None)
        emit({**summary, "exit_code": EXIT[summary["verdict"]], "results_folder": str(folder.path),
              "points": points.to_dict("records")})
    return EXIT[summary["verdict"]]
