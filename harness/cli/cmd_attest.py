"""``tpmhil attest``: verify a board's measured boot the way a remote verifier does.

Enrollment (AK through the EK), quote, replay of the event log against
PCR_Read and the quote, golden measurements per stage; a verdict per stage
on one screen, evidence into a results folder. Exit 0 when every stage
passes, 1 when any disagrees, 2 for bad input (a malformed log, a bad golden
file, an unreachable target).
"""

from __future__ import annotations

import argparse
import time

from tpm2_pytss import TSS2_Exception

from harness.attest.enroll import EK_TYPES, load_ca_certificates
from harness.attest.eventlog import read_eventlog
from harness.attest.flow import attest, format_result
from harness.attest.golden import load_golden
from harness.attest.replay import format_table
from harness.errors import ConfigError, TargetError
from harness.results.exchange_log import ExchangeLog
from harness.results.run_folder import DEFAULT_BASE, RunFolder

COMMAND = "attest"
HELP = "enroll an AK through the EK, quote, replay the event log and judge each boot stage"
KERNEL_LOG = "/sys/kernel/security/tpm0/binary_bios_measurements"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tpm", default=None, metavar="URI",
                   help="target string, e.g. swtpm://127.0.0.1:2321 or device:///dev/tpmrm0")
    p.add_argument("--eventlog", required=True, metavar="FILE",
                   help=f"the board's event log (on Linux: {KERNEL_LOG})")
    p.add_argument("--golden", default=None, metavar="FILE",
                   help="golden measurements of the board type (YAML)")
    p.add_argument("--results", default=DEFAULT_BASE, metavar="DIR",
                   help=f"base folder for the results folder (default: {DEFAULT_BASE}/)")
    p.add_argument("--ek", choices=sorted(EK_TYPES), default="rsa",
                   help="EK to enroll through (TCG default template L-1 rsa, L-2 ecc)")
    p.add_argument("--ek-ca", action="append", default=None, metavar="FILE",
                   help="CA certificate(s) the EK certificate must chain to (repeatable; "
                        "default for swtpm targets: the harness's local swtpm CA)")
    p.add_argument("--allow-uncertified-ek", action="store_true",
                   help="accept an EK without certificate (the verdict says so)")
    p.add_argument("--pcrs", default=None, metavar="LIST",
                   help="PCRs to quote and judge, e.g. 0-7,14 (default: 0-7 and every PCR the "
                        "log extends); leave out PCRs the OS extends without logging here")
    p.add_argument("--skip-crosscheck", action="store_true",
                   help="do not run tpm2_eventlog on the log (the stage shows NOT RUN)")
    p.add_argument("--table", action="store_true", help="also print the replay table")


def parse_pcr_list(text: str) -> list[int]:
    """``0-7,14`` -> [0, 1, ..., 7, 14]; a bad list is a ConfigError naming it."""
    out: set[int] = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            lo, _, hi = part.partition("-")
            first, last = int(lo), int(hi or lo)
            if not 0 <= first <= last <= 23:
                raise ValueError(part)
            out.update(range(first, last + 1))
    except ValueError:
        raise ConfigError(f"--pcrs {text!r}: expected PCR numbers 0-23 like 0-7,14") from None
    if not out:
        raise ConfigError(f"--pcrs {text!r}: names no PCR")
    return sorted(out)


def _ca_certs(args: argparse.Namespace, target) -> list:
    if args.ek_ca:
        return load_ca_certificates(args.ek_ca)
    from harness.ek import harness_ca_trusted

    if target.uri.scheme == "swtpm" or harness_ca_trusted(target):
        from harness.swtpm_process import ca_root_certificates

        return load_ca_certificates(ca_root_certificates())
    return []


def explain_tpm_failure(exc: Exception, exchanges: ExchangeLog) -> TargetError:
    """One clear error for a TSS failure: the transport's own error when there is one."""
    failed = [r for r in exchanges.peek() if r.error]
    if failed:
        last = failed[-1]
        return TargetError(f"{last.command}: {last.error}")
    return TargetError(f"the TPM stack failed: {exc}")


def run(args: argparse.Namespace) -> int:
    from harness.fixtures_support import open_session_esapi

    started = time.time()
    log = read_eventlog(args.eventlog)  # a malformed log stops here with one clear error
    log_bytes = open(args.eventlog, "rb").read()
    golden = load_golden(args.golden) if args.golden else None
    pcrs = parse_pcr_list(args.pcrs) if args.pcrs else None
    exchanges = ExchangeLog()
    exchanges.activity = "attest"
    try:
        with open_session_esapi(args.tpm, exchanges) as (target, esapi):
            result = attest(esapi, log, args.eventlog, golden, _ca_certs(args, target), args.ek,
                            not args.allow_uncertified_ek, pcrs, not args.skip_crosscheck)
            described = target.describe()
    except TSS2_Exception as exc:
        raise explain_tpm_failure(exc, exchanges) from exc
    folder = RunFolder.create(args.results, kind="attest")
    try:
        folder.store.set_meta("target", described)
        folder.store.add_exchanges(exchanges.drain(), worker="attest")
        from harness.attest.evidence import write_evidence

        evidence = write_evidence(folder, result, log_bytes, started)
        folder.export_command_log()
        folder.summarize({"attestation": "PASS" if result.ok else "FAIL",
                          "eventlog": str(args.eventlog),
                          "golden": golden.board if golden else None})
    finally:
        folder.close()
    print(f"attestation of {described.get('uri')} with {args.eventlog} "
          f"({len(log.events)} events, banks {', '.join(log.banks)})"
          + (f", golden {golden.board}" if golden else ""))
    print(format_result(result))
    if args.table and result.pcr_read_report is not None:
        print()
        print(format_table(result.pcr_read_report))
    for failure in result.stages:
        if failure.failed and len(failure.details) > 1:
            print(f"\n{failure.name}:")
            for line in failure.details[:10]:
                print(f"  {line}")
    print(f"evidence: {evidence}")
    return 0 if result.ok else 1
