"""``tpmhil attest``: verify a board's measured boot the way a remote verifier does.

Live (``--tpm``): enrollment (AK through the EK), quote, replay of the event
log against PCR_Read and the quote, golden measurements per stage.
Offline (``--offline DIR``): the same stages from files the board wrote with
tpm2-tools (quote, AK public, EK certificate, credential activation, event
log, IMA list); ``--make-challenge DIR`` prepares the credential and nonce
the board needs for it. A verdict per stage on one screen, evidence into a
results folder. Exit 0 when every stage passes, 1 when any disagrees, 2 for
bad input (a malformed log or evidence file, a bad golden file, an
unreachable target).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tpm2_pytss import TSS2_Exception

from harness.attest.enroll import EK_TYPES, load_ca_certificates
from harness.attest.eventlog import read_eventlog
from harness.identity import probe
from harness.attest.flow import attest, format_result
from harness.attest.golden import load_golden
from harness.attest.replay import format_table
from harness.cli.output import add_json_flag, emit
from harness.errors import ConfigError, TargetError
from harness.results.exchange_log import ExchangeLog
from harness.results.run_folder import DEFAULT_BASE, RunFolder
from harness.tpm.hierarchy_auth import AuthValueError, add_auth_options, apply_for_chip, from_options

COMMAND = "attest"
HELP = ("enroll an AK through the EK, quote, replay the event log and judge each boot stage "
        "(live, or --offline from files collected with tpm2-tools)")
KERNEL_LOG = "/sys/kernel/security/tpm0/binary_bios_measurements"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tpm", default=None, metavar="URI",
                   help="target string, e.g. swtpm://127.0.0.1:2321 or device:///dev/tpmrm0")
    p.add_argument("--eventlog", default=None, metavar="FILE",
                   help=f"the board's event log (on Linux: {KERNEL_LOG}); offline default: "
                        "DIR/binary_bios_measurements")
    off = p.add_argument_group("offline evidence (tpm2-tools files; see docs/attestation.md)")
    off.add_argument("--offline", default=None, metavar="DIR",
                     help="verify the evidence folder collected on the board instead of a live "
                          "TPM")
    off.add_argument("--nonce", default=None, metavar="HEX|FILE",
                     help="the nonce the verifier gave tpm2_quote -q (default: the challenge's)")
    off.add_argument("--challenge", default=None, metavar="DIR",
                     help="the verifier's challenge folder (--make-challenge, or cred.out + "
                          "secret.bin + ak.name from tpm2_makecredential)")
    p.add_argument("--ima-list", default=None, metavar="FILE",
                   help="IMA measurement list (/sys/kernel/security/ima/"
                        "ascii_runtime_measurements): PCR 10 is quoted and judged by it "
                        "(offline default: the list in DIR)")
    p.add_argument("--ima-allowlist", default=None, metavar="FILE",
                   help="file digests the lab allows (YAML/JSON) for the IMA list")
    off.add_argument("--make-challenge", default=None, metavar="DIR",
                     help="write a credential for the AK and a quote nonce into DIR, for the "
                          "board (needs --ek-cert and --ak-public)")
    off.add_argument("--ek-cert", default=None, metavar="FILE", help="with --make-challenge")
    off.add_argument("--ak-public", default=None, metavar="FILE",
                     help="with --make-challenge: the AK's TPM2B_PUBLIC (tpm2_createak -u)")
    off.add_argument("--ek-public", default=None, metavar="FILE",
                     help="with --make-challenge: the EK's TPM2B_PUBLIC (tpm2_createek -u), "
                          "for its nameAlg and symmetric key size")
    p.add_argument("--golden", default=None, metavar="FILE",
                   help="golden measurements of the board type (YAML)")
    add_auth_options(p)
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
    add_json_flag(p, "verdict, each stage with its status and details, evidence folder")


def _show(args: argparse.Namespace, result, evidence) -> int:
    """The verdict table, the PCR table on request, each failed stage's details, and the
    exit code: one screen for live and offline attestation alike."""
    print(format_result(result))
    if args.table and result.pcr_read_report is not None:
        print()
        print(format_table(result.pcr_read_report))
    for stage in result.stages:
        if stage.failed and len(stage.details) > 1:
            print(f"\n{stage.name}:")
            for line in stage.details[:10]:
                print(f"  {line}")
    print(f"evidence: {evidence}")
    return _finish(args, result, evidence)


def _finish(args: argparse.Namespace, result, evidence) -> int:
    """The exit code; with --json the verdict document on stdout."""
    code = 0 if result.ok else 1
    if args.json:
        emit({"verdict": "PASS" if result.ok else "FAIL", "exit_code": code, "mode": result.mode,
              "stages": [{"name": s.name, "status": s.status, "summary": s.summary,
                          "details": list(s.details)} for s in result.stages],
              "evidence": str(evidence)})
    return code


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
    from harness.ek import harness_ca_trusted, trusted_roots

    roots = trusted_roots()   # $TPMHIL_EK_ROOTS, as the suites and audit read it
    if roots:
        return roots
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
    if args.make_challenge:
        return _make_challenge(args)
    if args.offline:
        return _run_offline(args)
    if not args.eventlog:
        raise ConfigError("--eventlog FILE is required (or --offline DIR)")
    from harness.fixtures_support import open_session_esapi

    started = time.time()
    log = read_eventlog(args.eventlog)  # a malformed log stops here with one clear error
    from harness.attest.eventlog import MAX_LOG_SIZE
    from harness.attest.tpm2_files import read_file

    log_bytes = read_file(args.eventlog, "event log", MAX_LOG_SIZE)
    golden = load_golden(args.golden) if args.golden else None
    pcrs = parse_pcr_list(args.pcrs) if args.pcrs else None
    ima_check = None
    if args.ima_list or args.ima_allowlist:
        from harness.attest import ima_policy

        ima_check = ima_policy.stage_check(Path(args.ima_list) if args.ima_list else None,
                                           args.ima_allowlist, log)
    try:
        auth = from_options(args)  # the lab's hierarchy auth (options or $TPMHIL_*_AUTH)
    except AuthValueError as exc:
        raise ConfigError(str(exc)) from None
    exchanges = ExchangeLog()
    exchanges.activity = "attest"
    try:
        with open_session_esapi(args.tpm, exchanges) as (target, esapi):
            for line in apply_for_chip(esapi, auth):
                print(f"tpmhil attest: {line}", file=sys.stderr)
            result = attest(esapi, log, args.eventlog, golden, _ca_certs(args, target), args.ek,
                            not args.allow_uncertified_ek, pcrs, not args.skip_crosscheck,
                            ima_check)
            described = target.describe()
            identity = probe(esapi)   # chip and EK certificate facts for provenance.json
    except TSS2_Exception as exc:
        raise explain_tpm_failure(exc, exchanges) from exc
    if args.ima_list:  # the list judged is evidence too
        from harness.attest.ima import MAX_LIST
        from harness.attest.tpm2_files import read_file

        name = Path(args.ima_list).name
        if not name.endswith("runtime_measurements") or name.startswith("."):
            name = "ima_runtime_measurements"
        result.inputs[name] = read_file(args.ima_list, "IMA list", MAX_LIST)
    folder = RunFolder.create(args.results, kind="attest")
    try:
        folder.store.set_meta("target", described)
        folder.store.add_exchanges(exchanges.drain(), worker="attest")
        from harness.attest.evidence import write_evidence

        folder.write_json("identity.json", identity.to_dict())
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
    return _show(args, result, evidence)


def _make_challenge(args: argparse.Namespace) -> int:
    from harness.attest.offline import make_challenge

    if not (args.ek_cert and args.ak_public):
        raise ConfigError("--make-challenge needs --ek-cert FILE and --ak-public FILE")
    record = make_challenge(args.make_challenge, args.ek_cert, args.ak_public, args.ek_public)
    print(f"challenge for AK {record['ak_name'][:20]}... written to {args.make_challenge}: "
          "give the board cred.out and the nonce in nonce.hex; keep secret.bin here")
    if args.json:
        emit({"challenge": str(args.make_challenge), "ak_name": record["ak_name"], "exit_code": 0})
    return 0


def _run_offline(args: argparse.Namespace) -> int:
    """``--offline DIR``: the board's tpm2-tools files judged on the lab host."""
    from harness.attest import challenge as ch
    from harness.attest import offline
    from harness.attest.evidence import write_evidence
    from harness.attest.tpm2_files import parse_nonce

    started = time.time()
    if args.tpm:
        raise ConfigError("--offline judges files, not a TPM: leave out --tpm")
    challenge = Path(args.challenge) if args.challenge else None
    nonce = parse_nonce(args.nonce) if args.nonce else \
        (ch.challenge_nonce(challenge) if challenge else None)
    if nonce is None:
        raise ConfigError("--offline needs the nonce the verifier gave tpm2_quote -q: --nonce "
                          "HEX|FILE, or --challenge DIR holding nonce.hex")
    ev = offline.load_evidence(args.offline, args.eventlog)
    golden = load_golden(args.golden) if args.golden else None
    pcrs = parse_pcr_list(args.pcrs) if args.pcrs else None
    cas = load_ca_certificates(args.ek_ca) if args.ek_ca else []
    ima_check = None
    ima_path = Path(args.ima_list) if args.ima_list else ev.ima_path
    if ima_path is not None or args.ima_allowlist:
        from harness.attest import ima_policy

        ima_check = ima_policy.stage_check(ima_path, args.ima_allowlist, ev.log)
    result = offline.attest_offline(ev, nonce, challenge, golden, cas, pcrs,
                                    not args.skip_crosscheck, ima_check)
    folder = RunFolder.create(args.results, kind="attest")
    try:
        folder.store.set_meta("target", {"uri": f"offline:{ev.folder}", "kind": "offline",
                                         "evidence": str(ev.folder)})
        if ev.ek_cert is not None:  # provenance names the chip by its EK certificate
            from harness.provenance import certificate_facts

            folder.store.set_meta("endorsement", certificate_facts(ev.ek_cert))
        evidence = write_evidence(folder, result, ev.log_bytes, started)
        folder.export_command_log()
        folder.summarize({"attestation": "PASS" if result.ok else "FAIL", "mode": "offline",
                          "eventlog": str(ev.log_path),
                          "golden": golden.board if golden else None})
    finally:
        folder.close()
    print(f"offline attestation of {ev.folder} ({ev.log.format} log, {len(ev.log.events)} "
          f"events, banks {', '.join(ev.log.banks)})" + (f", golden {golden.board}" if golden
                                                        else ""))
    return _show(args, result, evidence)
