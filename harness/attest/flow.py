"""The whole attestation, stage by stage, as a verifier runs it against a board.

Stages, each with a verdict (PASS / FAIL / NOT RUN) and the details behind it:

1. ``parser cross-check``: tpm2_eventlog reads the same events and replay;
2. ``event data``: digests that must be the hash of their event data are;
3. ``enrollment``: EK certificate, EK, AK, software MakeCredential,
   ActivateCredential (:mod:`harness.attest.enroll`);
4. ``quote``: AK quote over the log's PCRs with a fresh nonce, verified in
   software (:mod:`harness.attest.quote`);
5. ``replay vs PCR_Read`` and ``replay vs quote``: every bank of the log
   replayed and compared, the first divergent event named
   (:mod:`harness.attest.replay`);
6. ``golden: <stage>``: one verdict per boot stage of the board's golden file.

The event log is parsed before any of this; a malformed log is one
:class:`~harness.attest.eventlog.EventLogError`, not a list of failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tpm2_pytss import TSS2_Exception

from harness.attest import pcrs as pcr_ops
from harness.attest.crosscheck import crosscheck
from harness.attest.enroll import Enrollment, EnrollmentError, enroll
from harness.attest.eventlog import EventLog
from harness.attest.golden import Golden, GoldenResult, evaluate, restricted_to
from harness.attest.quote import Quote, take_quote, verify_quote
from harness.attest.replay import (SRTM_PCRS, ReplayReport, check_event_data, compare,
                                   expected_values, replay)
from harness.identity import read_properties
from harness.tpm import properties as PT

PASS, FAIL, NOT_RUN = "PASS", "FAIL", "NOT RUN"
_TCTI_LAYER = 0x0A0000  # TSS2_RC layer of the transport: no answer, not a TPM verdict


def _tpm_refusal(exc: TSS2_Exception) -> str:
    """Text for a TPM error response; transport failures are re-raised, not judged."""
    if (int(exc.rc) & 0xFF0000) == _TCTI_LAYER:
        raise exc
    return f"the TPM refused a command: {exc}"


@dataclass
class Stage:
    name: str
    status: str
    summary: str
    details: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == FAIL


@dataclass
class AttestationResult:
    """Everything the verifier concluded, and the evidence behind it."""

    log: EventLog
    stages: list[Stage] = field(default_factory=list)
    pcr_read_report: ReplayReport | None = None
    quote_report: ReplayReport | None = None
    quote: Quote | None = None
    ak_pem: bytes = b""
    ak_public: bytes = b""
    ak_name: bytes = b""
    golden: GoldenResult | None = None
    mode: str = "live"  # or "offline": evidence files collected with tpm2-tools
    quote_doc: dict | None = None  # offline: the quote as read from the board's files
    inputs: dict[str, bytes] = field(default_factory=dict)  # offline: files as received
    ima: object | None = None  # offline: harness.attest.ima verdict, when a list was given

    @property
    def ok(self) -> bool:
        return not any(s.failed for s in self.stages)

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def failures(self) -> list[str]:
        return [f"{s.name}: {s.summary}" for s in self.stages if s.failed]

    def to_dict(self) -> dict[str, object]:
        return {
            "verdict": PASS if self.ok else FAIL,
            "mode": self.mode,
            "log": {"source": self.log.source, "banks": self.log.banks,
                    "events": len(self.log.events), "pcrs": self.log.pcrs()},
            "stages": [{"name": s.name, "status": s.status, "summary": s.summary,
                        "details": s.details} for s in self.stages],
            "ak_name": self.ak_name.hex(),
        }


def checked_pcrs(log: EventLog) -> list[int]:
    """PCRs read and quoted: the firmware's PCRs 0-7 and every PCR the log extends."""
    return sorted(set(SRTM_PCRS) | set(log.pcrs()))


def _firmware_version(esapi) -> int:
    props = read_properties(esapi)
    return (props.get(PT.FIRMWARE_VERSION_1, 0) << 32) | props.get(PT.FIRMWARE_VERSION_2, 0)


def _enroll_stage(esapi, result: AttestationResult, ek_type: str, ca_certs,
                  require_ek_cert: bool) -> Enrollment | None:
    try:
        en = enroll(esapi, ek_type, ca_certs, require_ek_cert)
    except EnrollmentError as exc:
        result.stages.append(Stage("enrollment", FAIL, str(exc)))
        return None
    except TSS2_Exception as exc:
        result.stages.append(Stage("enrollment", FAIL, _tpm_refusal(exc)))
        return None
    result.ak_pem, result.ak_name = en.ak_pem(), en.ak_name
    result.ak_public = bytes(en.ak_public.marshal())
    certified = en.ek_certificate is not None
    result.stages.append(Stage("enrollment", PASS,
                               f"AK {en.ak_name.hex()[:16]}... activated through the "
                               f"{'certified ' if certified else ''}{ek_type.upper()} EK",
                               list(en.checks)))
    return en


IMA_PCR = 10


def _quote_stages(esapi, result: AttestationResult, en: Enrollment, log: EventLog,
                  banks: list[str], pcrs: list[int], trusted: set[int],
                  ima_check=None) -> None:
    rep = replay(log)
    quote = take_quote(esapi, en.ak_handle, banks, pcrs)
    result.quote = quote
    expected = expected_values(log, rep, pcrs)
    firmware = _firmware_version(esapi)
    checks = verify_quote(quote, en.ak_key(), en.ak_qualified_name,
                          {b: expected[b] for b in banks}, "replayed log", firmware)
    ima_stages: list[Stage] = []
    if ima_check is not None:
        # PCR_Read after the quote is trusted only when the signed pcrDigest attests it
        attested = all(ok for n, ok, _t in checks if n in ("signature", "pcr read")) and \
            any(n == "pcr read" for n, _ok, _t in checks)
        ima_stages, result.ima = ima_check(quote.pcr_read if attested else {})
        for bank, value in result.ima.pcr10.items():
            if bank in expected and IMA_PCR in expected[bank]:
                expected[bank][IMA_PCR] = value
        checks = verify_quote(quote, en.ak_key(), en.ak_qualified_name,
                              {b: expected[b] for b in banks}, "replayed log and IMA list",
                              firmware)
    log_pcrs = [p for p in pcrs if not (ima_check and p == IMA_PCR)]
    digest_check = next((c for c in checks if c[0] == "pcr digest"), None)
    own = [c for c in checks if c[0] not in ("pcr digest",)]
    bad = [c for c in own if not c[1]]
    result.stages.append(Stage("quote", FAIL if bad else PASS,
                               bad[0][2] if bad else
                               f"signed by the AK over {len(pcrs)} PCRs x {len(banks)} "
                               "banks, nonce and clock verified",
                               [f"{'ok ' if ok else 'BAD'} {name}: {text}"
                                for name, ok, text in own]))
    result.stages.extend(ima_stages)
    if digest_check is None:
        result.stages.append(Stage("replay vs quote", NOT_RUN,
                                   "the quote could not be verified, so its PCR digest was not "
                                   "compared"))
        return
    if digest_check[1]:
        result.stages.append(Stage("replay vs quote", PASS, digest_check[2]))
        return
    # The quote only carries a digest. If it attests the PCR_Read values, those are the
    # quoted values and the replay can be compared with them event by event.
    attests_pcr_read = any(n == "pcr read" and ok for n, ok, _t in checks)
    detail = [digest_check[2]]
    summary = digest_check[2]
    if attests_pcr_read:
        report = compare(log, quote.pcr_read, "quoted PCRs", trusted=trusted,
                         only_pcrs=log_pcrs)
        result.quote_report = report
        if report.divergences:
            summary = report.divergences[0]
            detail += report.divergences
    result.stages.append(Stage("replay vs quote", FAIL, summary, detail))


def attest(esapi, log: EventLog, log_path: str | Path | None = None,
           golden: Golden | None = None, ca_certs=None, ek_type: str = "rsa",
           require_ek_cert: bool = True, pcrs: list[int] | None = None,
           crosscheck_log: bool = True, ima_check=None) -> AttestationResult:
    """Run every stage against the TPM behind ``esapi``; transient objects are flushed.

    Args:
        esapi: ESAPI on the board's TPM.
        log: the parsed event log of the board's last boot.
        log_path: the file ``log`` came from (for the tpm2_eventlog cross-check).
        golden: the board type's golden measurements, if any.
        ca_certs: CA certificates the EK certificate must chain to.
        ek_type: ``rsa`` (TCG template L-1) or ``ecc`` (L-2).
        require_ek_cert: refuse an EK that has no certificate.
        pcrs: PCRs to read, quote and judge (default: 0-7 and every PCR the
            log extends).
        crosscheck_log: run the tpm2_eventlog cross-check.
        ima_check: IMA stages (:func:`harness.attest.ima_policy.stage_check`); PCR 10
            is then quoted and judged by the IMA list, not the event log.
    """
    result = AttestationResult(log)
    pcrs = sorted(pcrs) if pcrs else sorted(set(checked_pcrs(log)) |
                                            ({IMA_PCR} if ima_check else set()))
    log_pcrs = [p for p in pcrs if not (ima_check and p == IMA_PCR)]
    trusted = log_stages(result, log, log_path, golden, crosscheck_log)
    active = pcr_ops.active_banks(esapi)
    banks = [b for b in log.banks if b in active]
    en = _enroll_stage(esapi, result, ek_type, ca_certs, require_ek_cert)
    try:
        if en is not None and banks:
            try:
                _quote_stages(esapi, result, en, log, banks, pcrs, trusted, ima_check)
            except TSS2_Exception as exc:
                result.stages.append(Stage("quote", FAIL, _tpm_refusal(exc)))
                result.stages.append(Stage("replay vs quote", NOT_RUN, "no quote"))
        else:
            why = "no enrolled AK" if en is None else "no bank of the log is active on the chip"
            result.stages.append(Stage("quote", NOT_RUN if en is None else FAIL, why))
            result.stages.append(Stage("replay vs quote", NOT_RUN, why))
            if ima_check is not None:
                ima_stages, result.ima = ima_check({})
                result.stages.extend(ima_stages)
    finally:
        if en is not None:
            en.flush(esapi)
    chip = pcr_ops.read_pcrs(esapi, banks, pcrs) if banks else {}
    report = compare(log, chip, "PCR_Read", trusted=trusted, active_banks=active,
                     only_pcrs=log_pcrs)
    result.pcr_read_report = report
    result.stages.append(Stage("replay vs PCR_Read", PASS if report.ok else FAIL,
                               report.summary(), report.divergences))
    golden_stages(result)
    return result


def log_stages(result: AttestationResult, log: EventLog, log_path: str | Path | None,
               golden: Golden | None, crosscheck_log: bool) -> set[int]:
    """The stages that need only the log: parser cross-check and event data; evaluates
    the golden file (its stages come last, :func:`golden_stages`). Returns the indices
    of events the golden file vouches for."""
    if not crosscheck_log:
        result.stages.append(Stage("parser cross-check", NOT_RUN, "skipped on request"))
    elif log_path is not None:
        cc = crosscheck(log_path, log, replay(log))
        result.stages.append(Stage("parser cross-check", (PASS if cc.ok else FAIL) if cc.ran
                                   else NOT_RUN, cc.detail, cc.differences))
    else:
        result.stages.append(Stage("parser cross-check", NOT_RUN, "no log file to hand to "
                                                                  "tpm2_eventlog"))
    # digests for banks the log does not carry are left out (at least one bank must match)
    result.golden = evaluate(restricted_to(golden, log.banks), log) if golden is not None \
        else None
    data_errors = check_event_data(log)
    result.stages.append(Stage("event data", FAIL if data_errors else PASS,
                               data_errors[0].message() if data_errors else
                               "every separator, variable, action and CRTM version digest is "
                               "the hash of its event data",
                               [d.message() for d in data_errors]))
    return result.golden.trusted if result.golden else set()


def golden_stages(result: AttestationResult) -> None:
    """One ``golden: <stage>`` verdict per stage of the golden file, if one was given."""
    golden_result = result.golden
    if golden_result is None:
        return
    for sv in golden_result.stages:
        result.stages.append(Stage(f"golden: {sv.stage}", PASS if sv.ok else FAIL,
                                   (next((d for d in sv.details
                                          if not d.endswith(" matches")), None)
                                    if not sv.ok else None)
                                   or sv.summary or f"{len(sv.details)} measurement(s) match "
                                      f"{golden_result.board}", sv.details))


def format_result(result: AttestationResult) -> str:
    """The one-screen verdict: one line per stage, failures explained below it."""
    width = max(len(s.name) for s in result.stages)
    lines = []
    for s in result.stages:
        lines.append(f"  {s.status:<7}  {s.name:<{width}}  {s.summary}")
    lines.append("")
    lines.append(f"VERDICT: {PASS if result.ok else FAIL}"
                 + ("" if result.ok else f" ({len(result.failures())} stage(s) failed)"))
    return "\n".join(lines)


__all__ = ["AttestationResult", "FAIL", "NOT_RUN", "PASS", "Stage", "attest", "checked_pcrs",
           "format_result", "golden_stages", "log_stages"]
