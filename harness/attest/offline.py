"""Attestation from evidence collected on the board with tpm2-tools, verified offline.

A QA lab often cannot run Python on a board's production image. It runs the
tpm2-tools commands of docs/attestation.md there and copies one folder to
the lab host; this module judges it with the same stages, verdict table
and evidence package as the live mode (:mod:`harness.attest.flow`):

* ``parser cross-check``, ``event data``, ``golden: <stage>``: as live;
* ``enrollment``: the EK certificate (chain to ``--ek-ca``), the AK's
  attributes, and the AK's binding to the EK by credential activation
  (:mod:`harness.attest.challenge`);
* ``quote``: signature by the AK, magic and type, qualifying data equal to
  the verifier's nonce, qualifiedSigner equal to the AK under the EK (when
  the EK's TPM2B_PUBLIC is there), the selection covering the judged PCRs,
  clock safe;
* ``PCR values vs quote``: the PCR file's values hash to the quote's pcrDigest;
* ``replay vs quote``: the replayed log (and IMA list for PCR 10) hashes to
  the pcrDigest;
* ``replay vs quoted PCRs``: PCR by PCR, the first divergent event named;
* ``ima: ...``: runtime measurements (:mod:`harness.attest.ima`).

Nothing here trusts a value the board sent before the signature over it is
verified: the PCR file is used only once its values hash to the signed
pcrDigest, and the nonce comes from the verifier, never from the folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from harness.attest import challenge as ch
from harness.attest import tpm2_files as tf
from harness.attest.credential import qualified_name
from harness.attest.enroll import (EnrollmentError, _same_key, verify_ak_attributes,
                                   verify_chain)
from harness.attest.eventlog import MAX_LOG_SIZE, EventLog, parse_eventlog
from harness.attest.flow import (FAIL, NOT_RUN, PASS, AttestationResult, Stage, checked_pcrs,
                                 golden_stages, log_stages)
from harness.attest.golden import Golden
from harness.attest.ima import MAX_LIST as MAX_IMA_LIST
from harness.attest.quote import (TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE, QuoteFormatError,
                                  parse_attest, pcr_composite_digest, verify_signature)
from harness.attest.replay import compare, expected_values, replay

TPM_RH_ENDORSEMENT = 0x4000000B
IMA_PCR = 10
# file names the collection script in docs/attestation.md writes (first existing one wins)
FILES = {
    "eventlog": ("binary_bios_measurements", "eventlog.bin"),
    "message": ("quote.msg",), "signature": ("quote.sig",), "pcrs": ("quote.pcrs",),
    "ak": ("ak.pub", "ak.pem"), "ek_cert": ("ek.crt", "ek.der", "ek.pem"),
    "ek_public": ("ek.pub",), "activated": ("actcred.out",),
    "ima": ("ascii_runtime_measurements", "binary_runtime_measurements",
            "ascii_runtime_measurements_sha256", "binary_runtime_measurements_sha256"),
}
REQUIRED = ("eventlog", "message", "signature", "pcrs", "ak")


def find(folder: Path, role: str) -> Path | None:
    """The first file of ``role`` in the folder. The folder comes from the board: a
    symbolic link (which could make the lab host copy its own files into the evidence)
    or anything but a regular file is refused."""
    for name in FILES[role]:
        path = folder / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise tf.EvidenceFileError(f"evidence folder {folder}: {name} is not a regular "
                                       "file (symbolic links and devices are refused)")
        if path.is_file():
            return path
    return None


@dataclass
class Evidence:
    """The board's files, read and size-checked (not yet trusted)."""

    folder: Path
    log_path: Path
    log: EventLog
    log_bytes: bytes
    attest: bytes
    signature: bytes
    pcr_file: bytes
    ak: tf.PublicKey
    ek_cert: object | None
    ek_public: tf.PublicKey | None
    activated: Path | None
    ima_path: Path | None
    inputs: dict[str, bytes]
    ak_file: str = "ak.pub"


def load_evidence(folder: str | Path, eventlog: str | Path | None = None) -> Evidence:
    """Read an evidence folder; a missing or malformed file is one error naming it."""
    root = Path(folder)
    if not root.is_dir():
        raise tf.EvidenceFileError(f"evidence folder {root}: not a folder")
    paths = {role: find(root, role) for role in FILES}
    if eventlog is not None:
        paths["eventlog"] = Path(eventlog)
    missing = [f"{role} ({' or '.join(FILES[role])})" for role in REQUIRED if paths[role] is None]
    if missing:
        raise tf.EvidenceFileError(f"evidence folder {root}: missing {', '.join(missing)}")
    inputs = {p.name: tf.read_file(p, role) for role, p in paths.items()
              if p is not None and role not in ("eventlog", "activated", "ima")}
    if paths["ima"] is not None:  # the list is evidence too (it can be tens of MB)
        inputs[paths["ima"].name] = tf.read_file(paths["ima"], "IMA list", MAX_IMA_LIST)
    log_bytes = tf.read_file(paths["eventlog"], "event log", MAX_LOG_SIZE)
    return Evidence(
        folder=root, log_path=paths["eventlog"], log_bytes=log_bytes,
        log=parse_eventlog(log_bytes, str(paths["eventlog"])),
        attest=tf.read_attest(paths["message"]), signature=tf.read_signature(paths["signature"]),
        pcr_file=tf.read_file(paths["pcrs"], "PCR values"),
        ak=tf.read_public(paths["ak"], "AK public"),
        ek_cert=tf.read_certificate(paths["ek_cert"]) if paths["ek_cert"] else None,
        ek_public=tf.read_public(paths["ek_public"], "EK public") if paths["ek_public"]
        else None,
        activated=paths["activated"], ima_path=paths["ima"], inputs=inputs,
        ak_file=paths["ak"].name)


def _enrollment_stage(ev: Evidence, challenge: Path | None, ca_certs) -> Stage:
    details: list[str] = []
    try:
        if ev.ak.public is not None:
            verify_ak_attributes(ev.ak.public)
            details.append("AK attributes: fixedTPM, fixedParent, sensitiveDataOrigin, "
                           "restricted, sign; not decrypt")
        else:
            details.append("AK attributes: not checked (the AK public is a bare key)")
        if ev.ek_cert is None:
            return Stage("enrollment", FAIL if challenge else NOT_RUN,
                         "no EK certificate (ek.crt) in the evidence folder: the AK cannot be "
                         "tied to a manufacturer", details)
        details.append(f"EK certificate chain: {verify_chain(ev.ek_cert, ca_certs)}" if ca_certs
                       else "EK certificate chain: not checked (no --ek-ca)")
        if ev.ek_public is not None and not _same_key(ev.ek_cert.public_key(), ev.ek_public.key):
            return Stage("enrollment", FAIL, "ek.pub is not the key in the EK certificate",
                         details)
    except EnrollmentError as exc:
        return Stage("enrollment", FAIL, str(exc), details)
    if challenge is None or ev.activated is None:
        return Stage("enrollment", NOT_RUN, "no credential-activation transcript (--challenge "
                     "DIR and actcred.out): the AK's binding to the EK is not proven", details)
    binding = ch.verify_binding(challenge, ev.activated, ev.ak, ev.ek_cert.public_key())
    return Stage("enrollment", PASS if binding.ok else FAIL, binding.summary,
                 details + binding.details)


def _ak_qualified_name(ev: Evidence) -> bytes | None:
    if ev.ek_public is None or not ev.ek_public.name or not ev.ak.name:
        return None
    ek_qn = qualified_name(ev.ek_public.name_alg, TPM_RH_ENDORSEMENT.to_bytes(4, "big"),
                           ev.ek_public.name)
    return qualified_name(ev.ak.name_alg, ek_qn, ev.ak.name)


def _pcr_set(selection: list[tuple[str, list[int]]]) -> dict[str, set[int]]:
    return {bank: set(pcrs) for bank, pcrs in selection}


def attest_offline(ev: Evidence, nonce: bytes, challenge: Path | None = None,
                   golden: Golden | None = None, ca_certs=None, pcrs: list[int] | None = None,
                   crosscheck_log: bool = True, ima_check=None) -> AttestationResult:
    """Judge the evidence; ``ima_check(quoted PCR values) -> (stages, verdict)`` adds the
    IMA stages (:func:`harness.attest.ima_policy.stage_check`)."""
    log = ev.log
    result = AttestationResult(log, mode="offline", inputs=dict(ev.inputs))
    result.ak_public = ev.inputs[ev.ak_file] if ev.ak.public is not None else b""
    result.ak_pem = ev.ak.key.public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    result.ak_name = ev.ak.name
    trusted = log_stages(result, log, ev.log_path, golden, crosscheck_log)
    result.stages.append(_enrollment_stage(ev, challenge, ca_certs))
    judged = sorted(pcrs) if pcrs else sorted(set(checked_pcrs(log)) |
                                               ({IMA_PCR} if ima_check else set()))
    checks: list[tuple[str, bool, str]] = []
    try:
        scheme = verify_signature(ev.ak.key, ev.attest, ev.signature)
        checks.append(("signature", True, f"{scheme} signature by the AK verifies"))
        body = parse_attest(ev.attest)
    except InvalidSignature:
        body = None
        checks.append(("signature", False, "the quote signature does not verify with the AK "
                                           "(message or signature altered, or another key)"))
    except QuoteFormatError as exc:
        body = None
        checks.append(("signature", False, str(exc)))
    pcr_values: dict[str, dict[int, bytes]] = {}
    if body is not None:
        checks.append(("magic/type", body.magic == TPM_GENERATED_VALUE and
                       body.type == TPM_ST_ATTEST_QUOTE,
                       f"magic 0x{body.magic:08x}, type 0x{body.type:04x}"))
        checks.append(("nonce", body.extra_data == nonce,
                       "qualifying data equals the verifier's nonce" if body.extra_data == nonce
                       else f"qualifying data {body.extra_data.hex()[:32]} is not the verifier's "
                            f"nonce {nonce.hex()[:32]} (a replayed or foreign quote)"))
        qn = _ak_qualified_name(ev)
        if qn is not None:
            checks.append(("signer", body.qualified_signer == qn,
                           "qualifiedSigner is the AK under the EK" if body.qualified_signer == qn
                           else f"qualifiedSigner {body.qualified_signer.hex()[:20]}... is not "
                                "the AK under this EK"))
        # every bank the log carries must be quoted: an unquoted bank's digests are not
        # attested, and golden values matched on them would prove nothing
        quoted = _pcr_set(body.selection)
        lacking = [f"{b} PCR {p}" for b in log.banks for p in judged
                   if p not in quoted.get(b, set())]
        shown = ", ".join(lacking[:6]) + (f" and {len(lacking) - 6} more" if len(lacking) > 6
                                          else "")
        checks.append(("selection", not lacking,
                       f"quoted {body.selection}" + (f"; lacks {shown}: quote every judged PCR "
                                                     "in every bank of the log" if lacking
                                                     else "")))
        checks.append(("clock", body.clock.safe,
                       f"clock {body.clock.clock} ms, resetCount {body.clock.reset_count}, "
                       f"restartCount {body.clock.restart_count}, safe "
                       f"{'yes' if body.clock.safe else 'NO'}; firmwareVersion "
                       f"0x{body.firmware_version:016x}"))
        try:
            pcr_values, fmt = tf.parse_pcr_values(ev.pcr_file, body.selection, "quote.pcrs")
        except tf.EvidenceFileError as exc:
            fmt = str(exc)
    bad = [c for c in checks if not c[1]]
    result.stages.append(Stage("quote", FAIL if bad else PASS, bad[0][2] if bad else
                               f"signed by the AK over {sum(len(p) for _b, p in body.selection)} "
                               "PCR values, nonce verified",
                               [f"{'ok ' if ok else 'BAD'} {n}: {t}" for n, ok, t in checks]))
    result.quote_doc = {"attest": ev.attest.hex(), "signature": ev.signature.hex(),
                        "nonce": nonce.hex(), "checks": [{"check": n, "ok": ok, "detail": t}
                                                        for n, ok, t in checks]}
    if body is None:
        for name in ("PCR values vs quote", "replay vs quote", "replay vs quoted PCRs"):
            result.stages.append(Stage(name, NOT_RUN, "the quote's signature does not verify"))
        return _ima_and_golden(result, ima_check, None)
    result.quote_doc.update(selection=[{"bank": b, "pcrs": p} for b, p in body.selection],
                            pcr_values={b: {str(p): v.hex() for p, v in vals.items()}
                                        for b, vals in pcr_values.items()})
    hash_name = tf.alg_name(int.from_bytes(ev.signature[2:4], "big"))
    authentic = False
    if pcr_values:
        authentic = pcr_composite_digest(hash_name, body.selection, pcr_values) == body.pcr_digest
        result.stages.append(Stage("PCR values vs quote", PASS if authentic else FAIL,
                                   f"quote.pcrs ({fmt}) hashes to the quote's pcrDigest"
                                   if authentic else "quote.pcrs does not hash to the quote's "
                                   "pcrDigest: the PCR values were altered"))
    else:
        result.stages.append(Stage("PCR values vs quote", FAIL, fmt))
    ima_verdict = None
    expected = expected_values(log, replay(log), sorted({p for _b, ps in body.selection
                                                         for p in ps}))
    if ima_check is not None:
        ima_stage_list, ima_verdict = ima_check(pcr_values if authentic else {})
        result.stages.extend(ima_stage_list)
        for bank, value in (ima_verdict.pcr10 or {}).items():
            if bank in expected:
                expected[bank][IMA_PCR] = value
    try:
        want = pcr_composite_digest(hash_name, body.selection, expected)
        ok = want == body.pcr_digest
        detail = (f"pcrDigest {'equals' if ok else 'differs from'} {hash_name}(replayed log"
                  f"{' and IMA list' if ima_check else ''})")
    except KeyError as exc:
        ok, detail = False, f"the log has no {exc.args[0]} bank for the quoted selection"
    summary, details = detail, [detail]
    log_pcrs = [p for p in judged if not (ima_check and p == IMA_PCR)]
    report = compare(log, pcr_values, "quoted PCRs", trusted=trusted, only_pcrs=log_pcrs) \
        if authentic else None
    if not ok and report is not None and report.divergences:
        summary = report.divergences[0]
        details += report.divergences
    result.stages.append(Stage("replay vs quote", PASS if ok else FAIL, summary, details))
    result.pcr_read_report = report
    if report is None:
        result.stages.append(Stage("replay vs quoted PCRs", NOT_RUN, "the PCR values are not "
                                   "the quoted ones"))
    else:
        result.stages.append(Stage("replay vs quoted PCRs", PASS if report.ok else FAIL,
                                   report.summary(), report.divergences))
    return _ima_and_golden(result, None, ima_verdict)


def _ima_and_golden(result: AttestationResult, ima_check, ima_verdict) -> AttestationResult:
    if ima_check is not None:  # the quote could not be used: IMA judged without PCR 10
        stages, ima_verdict = ima_check({})
        result.stages.extend(stages)
    result.ima = ima_verdict
    golden_stages(result)
    return result


def make_challenge(out: str | Path, ek_cert: str | Path, ak_public: str | Path,
                   ek_public: str | Path | None = None) -> dict:
    """``tpmhil attest --make-challenge``: credential and nonce for the board."""
    cert = tf.read_certificate(ek_cert)
    ak = tf.read_public(ak_public, "AK public")
    ekp = tf.read_public(ek_public, "EK public") if ek_public else None
    if ekp is not None and not _same_key(cert.public_key(), ekp.key):
        raise tf.EvidenceFileError(f"EK public {ek_public}: not the key in {ek_cert}")
    if ak.public is not None:
        try:
            verify_ak_attributes(ak.public)
        except EnrollmentError as exc:
            raise tf.EvidenceFileError(f"AK public {ak_public}: {exc}") from None
    return ch.make_challenge(Path(out), cert.public_key(), ak, ekp)
