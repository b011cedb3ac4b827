"""``tpmhil audit``: check a chip for published weaknesses.

One screen: chip identity and decoded firmware, matched advisories, and each
check (EK credentials, ROCA, nonce-timing leakage, reference-library probes)
with its verdict and figures. Evidence goes into a results folder
(``evidence/security/<check>.json`` holds each check's figures); the exit
status is 0 only when every check ran and passed, 1 when a weakness is found
or a check did not run, was inconclusive or ran out of its time budget.
"""

from __future__ import annotations

import argparse
import json
import sys

from harness.audit import nonce_timing
from harness.audit.catalogue import load_catalogues
from harness.audit.checks import FAIL, PASS, decoded_firmware
from harness.audit.runner import ALL_CHECKS, AuditOptions, record, run_audit
from harness.results.run_folder import DEFAULT_BASE, RunFolder, new_run_id
from harness.tpm.hierarchy_auth import add_auth_options

COMMAND = "audit"
HELP = "check a chip for published weaknesses (advisories, ROCA, nonce timing, reference-library probes, EK certs)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tpm", default=None, metavar="URI",
                   help="target string (default: $TPMHIL_TARGET or swtpm)")
    p.add_argument("--advisories", action="append", default=[], metavar="FILE",
                   help="a lab's own advisory catalogue, merged over the bundled one; repeatable")
    p.add_argument("--samples", type=int, default=nonce_timing.DEFAULT_SAMPLES, metavar="N",
                   help=f"most signatures per EC scheme for the timing test; the power analysis "
                        f"usually needs fewer (default {nonce_timing.DEFAULT_SAMPLES})")
    p.add_argument("--budget-s", type=float, default=None, metavar="S",
                   help=f"wall-time budget of the timing test, all schemes (default "
                        f"$TPMHIL_AUDIT_BUDGET_S or {nonce_timing.DEFAULT_AUDIT_BUDGET_S:g}); when it "
                        "runs out the check is incomplete and says what it could resolve")
    p.add_argument("--results", default=DEFAULT_BASE, metavar="DIR",
                   help="folder that receives results/<run-id>/ (default: ./results)")
    p.add_argument("--trust-roots", action="append", default=[], metavar="PATH",
                   help="folder or file of vendor root/intermediate certificates for EK chains; "
                        "repeatable (default: $TPMHIL_EK_ROOTS; spawned swtpm: its local CA)")
    p.add_argument("--allow-destructive", default=None, metavar="URI",
                   help="run the reference-library probes on this (non-disposable) target")
    p.add_argument("--skip", action="append", default=[], choices=ALL_CHECKS,
                   help="leave a check out; repeatable")
    p.add_argument("--alpha", type=float, default=nonce_timing.DEFAULT_ALPHA,
                   help="significance level of the timing test")
    p.add_argument("--floor-us", type=float, default=nonce_timing.DEFAULT_FLOOR_US_PER_BIT,
                   help="smallest effect (µs per leading zero bit) reported as a leak")
    p.add_argument("--json", action="store_true",
                   help="print only a JSON document on stdout (verdict, exit code, results folder, "
                        "every check with its figures); the screen goes to stderr")
    add_auth_options(p)
    p.add_argument("--simulate-nonce-leak", type=float, default=None, metavar="US_PER_BIT",
                   help="SIMULATION for demos and tests: make the target leak this many µs per "
                        "leading zero bit of each signature's nonce")


def _open(args):
    from harness.tpm.startup import ensure_started

    from harness.chip_profile import load_profile
    from harness.results.exchange_log import ExchangeLog
    from harness.targets.registry import open_target
    from harness.transports.tcti import open_esapi

    target = open_target(args.tpm)
    durations = load_profile(target.profile_hint).durations if target.profile_hint else None
    log = ExchangeLog()
    transport = target.open(durations, log)
    if args.simulate_nonce_leak is not None:
        from harness.audit.leaky_transport import SimulatedNonceLeakTransport

        transport = SimulatedNonceLeakTransport(transport, args.simulate_nonce_leak)
    esapi = open_esapi(transport)
    ensure_started(esapi)
    return target, transport, esapi, log


def _lab_auth(args):
    """The lab's hierarchy auth values (options, else $TPMHIL_*_AUTH), read before the chip."""
    from harness.errors import ConfigError
    from harness.tpm.hierarchy_auth import AuthValueError, from_options

    try:
        return from_options(args)
    except AuthValueError as exc:
        raise ConfigError(str(exc)) from None


def _trust_roots(args, target) -> list:
    from harness.audit.ekcert import load_trust_roots

    import os

    paths = list(args.trust_roots)
    if not paths and os.environ.get("TPMHIL_EK_ROOTS"):  # the suites' setting (harness.ek)
        paths = [os.environ["TPMHIL_EK_ROOTS"]]
    from harness.ek import harness_ca_trusted

    if not paths and harness_ca_trusted(target):
        from harness.swtpm_process import ca_root_certificates

        paths = [str(p) for p in ca_root_certificates()]
    return load_trust_roots(paths)


def _mark(verdict: str) -> str:
    return {PASS: "PASS", FAIL: "FAIL"}.get(verdict, verdict.upper())


def _budget(args) -> float:
    import os

    from harness.errors import ConfigError

    raw = args.budget_s if args.budget_s is not None else os.environ.get(
        "TPMHIL_AUDIT_BUDGET_S", nonce_timing.DEFAULT_AUDIT_BUDGET_S)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"TPMHIL_AUDIT_BUDGET_S={raw!r}: expected a number of seconds") from None
    if not value > 0:
        raise ConfigError(f"timing budget {raw}: expected a positive number of seconds")
    return value


def _figures_line(o) -> str:
    """The figures behind a verdict, as the evidence file holds them."""
    parts = []
    for name, f in o.figures.items():
        v = f["value"]
        if v is None:
            continue
        text = f"{v:.3g}" if isinstance(v, float) else str(v)
        parts.append(f"{name}={text}{(' ' + f['unit']) if f['unit'] else ''}")
    return ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    if args.samples < 100:
        from harness.errors import ConfigError

        raise ConfigError(f"--samples {args.samples}: at least 100 signatures are needed")
    catalogue = load_catalogues(args.advisories)  # a broken file fails before the chip is touched
    from harness.chip_profile import load_profile, profile_for_chip
    from harness.identity import probe

    budget = _budget(args)
    auth = _lab_auth(args)
    screen = sys.stderr if args.json else sys.stdout

    def say(text: str = "") -> None:
        print(text, file=screen, flush=True)

    target, transport, esapi, log = _open(args)
    folder = None
    try:
        from harness.tpm.hierarchy_auth import apply_for_chip

        auth_missing = apply_for_chip(esapi, auth)
        identity = probe(esapi)
        profile = (load_profile(target.profile_hint) if target.profile_hint
                   else profile_for_chip(identity.manufacturer, identity.vendor))
        disposable = target.disposable or args.allow_destructive in (target.uri.text, target.uri.redacted())
        options = AuditOptions(
            samples=args.samples, alpha=args.alpha, floor_us_per_bit=args.floor_us,
            budget_s=budget, profile=profile,
            progress=lambda line: say(f"{'':>16}... {line}"),
            destructive_ok=disposable, trust_roots=_trust_roots(args, target), skip=tuple(args.skip),
            destructive_note=f"destructive: {target.uri.redacted()} is not disposable; pass "
                             f"--allow-destructive {target.uri.redacted()} (a vulnerable chip may need a power cycle)")
        folder = RunFolder.create(args.results, new_run_id("audit-"), kind="audit")
        store = folder.store
        store.set_meta("target", target.uri.redacted())
        store.set_meta("identity_brief", f"{identity.manufacturer} {identity.vendor.strip()} fw {identity.firmware}")
        store.set_meta("profile_name", profile.name if profile else None)
        folder.write_json("identity.json", identity.to_dict())
        folder.write_json("target.json", target.describe())

        fw = decoded_firmware(identity, profile.firmware_format if profile else None)
        sim = " [SIMULATED NONCE LEAK]" if args.simulate_nonce_leak is not None else ""
        say(f"tpm-hil audit of {target.uri.redacted()}{sim}")
        say(f"  chip        {identity.manufacturer} (0x{identity.manufacturer_id:08x}) "
              f"'{identity.vendor.strip()}', {identity.spec}")
        say(f"  firmware    {fw.text} (rule {fw.rule}; TPM_PT_FIRMWARE_VERSION_1=0x"
              f"{identity.firmware_version_1:08x}, _2=0x{identity.firmware_version_2:08x})")
        say(f"  profile     {profile.name if profile else 'none matches'}; catalogues "
              + ", ".join(f"{v} ({p.rsplit('/', 1)[-1]})" for p, v in catalogue.versions.items()))
        for text in catalogue.replaced:
            say(f"  replaced    {text}")
        for text in auth_missing:
            say(f"  auth        {text}")

        def show(o):
            say(f"  {_mark(o.verdict):<12} {o.name:<22} {o.summary}")
            if o.figures:
                say(f"{'':>16}figures: {_figures_line(o)}"
                      + (" [SIMULATION]" if o.simulation else ""))
            if o.name == "advisories":
                for m in o.details:
                    say(f"{'':>16}{m['status']:<12} {m['id']} {m['product']}: {m['title']}"
                          + (f" [{m['range']}]" if m["range"] else f" (confirmed by the {m['check']} check)"))
        say("checks")
        report = run_audit(esapi, transport, identity, profile.firmware_format if profile else None,
                           profile.name if profile else None, catalogue, options,
                           folder.evidence_dir, show)
        record(folder, report)
        store.add_exchanges(log.drain())
        folder.summarize({"audit": report.verdict})
        folder.export_command_log()
        say(f"verdict       {report.verdict}  (evidence: {folder.path})")
        code = 0 if report.passed else 1
        if args.json:
            print(json.dumps({"verdict": report.verdict, "exit_code": code,
                              "results": str(folder.path), "audit": report.to_dict(),
                              "security": [o.evidence_document(folder.path) for o in report.outcomes]},
                             indent=2, sort_keys=True, default=str))
        return code
    finally:
        try:
            esapi.close()
        finally:
            if folder is not None:
                folder.close()
            target.close()
            sys.stdout.flush()
