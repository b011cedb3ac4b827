"""``tpmhil eventlog``: write a synthetic measured boot, or show a board's log.

``tpmhil eventlog synth --tpm URI -o FILE`` plays firmware: it extends the
target's PCRs 0-7 (all banks at once) and writes the matching crypto-agile
log. ``tpmhil eventlog show FILE`` prints the events and the replayed PCRs of
a crypto-agile or SHA-1 log. ``tpmhil eventlog ima FILE [--allowlist FILE]``
checks an IMA measurement list on its own (no quote).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from tpm2_pytss import TSS2_Exception

from harness.attest import synth
from harness.attest.describe import describe_event
from harness.attest.eventlog import encode_eventlog, read_eventlog
from harness.attest.replay import replay
from harness.cli.cmd_attest import explain_tpm_failure
from harness.cli.output import add_json_flag, emit
from harness.errors import ConfigError, HarnessError, NotSupportedError
from harness.results.exchange_log import ExchangeLog

COMMAND = "eventlog"
HELP = "synthesize a measured boot into a TPM (synth), show an event log (show), check an " \
       "IMA list (ima)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    s = sub.add_parser("synth", help="extend the target's PCRs like firmware would and write "
                                     "the matching event log")
    s.add_argument("--tpm", default=None, metavar="URI",
                   help="target string, e.g. swtpm://127.0.0.1:2321 (default: $TPMHIL_TARGET)")
    s.add_argument("-o", "--output", required=True, metavar="FILE", help="event log to write")
    s.add_argument("--banks", default=None, metavar="LIST",
                   help="banks to log and extend, e.g. sha1,sha256,sha384 "
                        "(default: the chip's active banks)")
    s.add_argument("--golden-out", default=None, metavar="FILE",
                   help="also write the golden file of the synthetic board type")
    s.add_argument("--reset", action="store_true",
                   help="power-cycle the TPM first (swtpm control channel), so PCRs start clean")
    s = sub.add_parser("show", help="print an event log's events and replayed PCR values")
    s.add_argument("file", metavar="FILE", help="e.g. /sys/kernel/security/tpm0/"
                                                "binary_bios_measurements")
    s = sub.add_parser("ima", help="check an IMA measurement list: template hashes, PCR 10 "
                                   "replay, files against an allowlist")
    s.add_argument("file", metavar="FILE", help="e.g. /sys/kernel/security/ima/"
                                                "ascii_runtime_measurements")
    s.add_argument("--allowlist", default=None, metavar="FILE",
                   help="the lab's allowed file digests (YAML/JSON, see docs/attestation.md)")
    add_json_flag(s, "verdict, PCR 10 replay, bad template hashes, changed and unknown files")


def _reset(esapi, transport) -> None:
    try:
        synth.restart(esapi, transport)
    except (NotSupportedError, NotImplementedError, AttributeError) as exc:
        raise HarnessError(f"--reset: this target cannot be power-cycled ({exc})") from exc


def _synth(args: argparse.Namespace) -> int:
    from harness.fixtures_support import open_session_esapi

    banks = [b.strip() for b in args.banks.split(",") if b.strip()] if args.banks else None
    out = Path(args.output)
    if not out.parent.exists():
        raise ConfigError(f"-o {out}: folder {out.parent} does not exist")
    exchanges = ExchangeLog()
    try:
        with open_session_esapi(args.tpm, exchanges) as (target, esapi):
            if target.disposable and not target.uri.host:
                print("note: the target is a spawned swtpm that is removed when this command "
                      "ends; start one by hand and pass swtpm://HOST:PORT to attest it afterwards")
            if args.reset:
                _reset(esapi, target.transport)
            log = synth.synthesize(esapi, banks)
            out.write_bytes(encode_eventlog(log))
    except TSS2_Exception as exc:
        raise explain_tpm_failure(exc, exchanges) from exc
    print(f"extended PCRs {', '.join(map(str, log.pcrs()))} in banks {', '.join(log.banks)} "
          f"with {len(log.events)} events; wrote {out}")
    if args.golden_out:
        Path(args.golden_out).write_text(yaml.safe_dump(synth.golden_document(log.banks),
                                                        sort_keys=False))
        print(f"wrote golden file {args.golden_out} (board type {synth.BOARD_TYPE})")
    return 0


def _show(args: argparse.Namespace) -> int:
    log = read_eventlog(args.file)
    sid = log.spec_id
    if log.format == "sha1":
        header = (sid.signature.rstrip(b"\x00").decode("ascii", "replace") if sid.signature
                  else "no Spec ID event")
        print(f"{log.source}: SHA-1 format (TCG_PCR_EVENT, {header}), banks sha1, "
              f"{len(log.events)} events")
    else:
        print(f"{log.source}: crypto-agile, Spec ID {sid.spec_version[0]}.{sid.spec_version[1]} "
              f"errata {sid.spec_version[2]}, banks {', '.join(log.banks)}, {len(log.events)} "
              "events")
    for e in log.events:
        first = next(iter(e.digests.items()))
        print(f"  #{e.index:<3} PCR {e.pcr:<2} {e.type_name:<34} {first[0]} "
              f"{first[1].hex()[:16]}...  {describe_event(e)[:60]}")
    rep = replay(log)
    for bank, values in rep.values.items():
        print(f"{bank}:")
        for pcr, value in sorted(values.items()):
            print(f"  {pcr:>2}: {value.hex()}")
    for bank in rep.unreplayable:
        print(f"{bank}: cannot be replayed (no hash implementation)")
    return 0


def _ima(args: argparse.Namespace) -> int:
    """Exit 0 when every template hash recomputes and no file breaks the allowlist."""
    from harness.attest import ima
    from harness.attest.ima_policy import judge_allowlist, load_allowlist

    lst = ima.read_ima_list(args.file)
    tc = ima.check_template_hashes(lst)
    print(f"{lst.source}: {len(lst.entries)} measurements, {lst.template_hash_alg} template "
          f"hashes, {len(tc.violations)} violation(s)")
    for bank in ("sha1", "sha256", "sha384"):
        print(f"  PCR 10 {bank:<7} {ima.replay_pcr(lst, bank).hex()}")
    print(f"  PCR 10 sha256  {ima.replay_pcr(lst, 'sha256', legacy=True).hex()} "
          "(kernels before 5.8)")
    for line in tc.bad:
        print(f"BAD template hash: {line}")
    failing = list(tc.bad)
    changed, unknown = [], []
    if args.allowlist:
        allow = load_allowlist(args.allowlist)
        changed, unknown = judge_allowlist(lst, allow)
        for line in changed:
            print(f"CHANGED: {line}")
        for line in unknown:
            print(f"UNKNOWN: {line}")
        failing += changed + (unknown if allow.unknown_fails else [])
    print(f"VERDICT: {'FAIL' if failing else 'PASS'}")
    if args.json:
        emit({"verdict": "FAIL" if failing else "PASS", "exit_code": 1 if failing else 0,
              "measurements": len(lst.entries), "template_hash_alg": lst.template_hash_alg,
              "pcr10": {bank: ima.replay_pcr(lst, bank).hex() for bank in ("sha1", "sha256",
                                                                            "sha384")},
              "bad_template_hashes": list(tc.bad), "changed": changed, "unknown": unknown})
    return 1 if failing else 0


def run(args: argparse.Namespace) -> int:
    return {"synth": _synth, "show": _show, "ima": _ima}[args.action](args)
