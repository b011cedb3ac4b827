"""Measured boot: the event log, the PCRs, an AK proven to live with the EK, and a quote agree.

Evidence for IEC 62443-4-2 EDR 3.14 (integrity of the boot process) and
CR 3.4 (software and information integrity).
"""

from __future__ import annotations

import json

import pytest

from harness.attest import pcrs as pcr_ops
from harness.attest.crosscheck import crosscheck
from harness.attest.enroll import enroll
from harness.attest.flow import checked_pcrs
from harness.attest.golden import evaluate
from harness.attest.quote import take_quote, verify_quote
from harness.attest.replay import check_event_data, compare, expected_values, replay

pytestmark = [pytest.mark.attestation,
              pytest.mark.requirement("IEC62443-4-2:EDR 3.14", "IEC62443-4-2:CR 3.4")]


@pytest.mark.spec("TCG PC Client PFP §10.2 crypto-agile log format")
def test_event_log_is_read_alike_by_tpm2_eventlog(boot_under_test):
    log = boot_under_test.log
    assert log.events, f"{boot_under_test.path}: the log holds no event after its header"
    cc = crosscheck(boot_under_test.path, log, replay(log))
    if not cc.ran:
        pytest.skip(cc.detail)
    assert cc.ok, cc.detail


@pytest.mark.spec("TCG PC Client PFP §10.4 (digest of the event data)")
def test_event_data_matches_its_digests(boot_under_test):
    errors = check_event_data(boot_under_test.log)
    assert not errors, errors[0].message()


@pytest.mark.spec("TPM 2.0 Part 3 §22.4 PCR_Read; TCG PC Client PFP §10.2")
def test_replayed_log_matches_pcr_read(tpm, boot_under_test):
    log = boot_under_test.log
    active = pcr_ops.active_banks(tpm)
    banks = [b for b in log.banks if b in active]
    chip = pcr_ops.read_pcrs(tpm, banks, checked_pcrs(log))
    report = compare(log, chip, "PCR_Read", active_banks=active)
    assert report.ok, report.divergences[0]


@pytest.mark.spec("TPM 2.0 Part 3 §12.5 ActivateCredential; Part 1 §24 Protected Storage")
@pytest.mark.needs("hierarchy:endorsement")
def test_ak_is_enrolled_through_the_ek(tpm, boot_under_test):
    enrollment = enroll(tpm, "rsa", boot_under_test.ca_certs)
    try:
        assert enrollment.activated
        assert enrollment.ek_certificate is not None
    finally:
        enrollment.flush(tpm)


@pytest.mark.spec("TPM 2.0 Part 3 §18.4 Quote")
@pytest.mark.needs("hierarchy:endorsement")
def test_quote_by_the_enrolled_ak_attests_the_replayed_log(tpm, boot_under_test, results):
    log = boot_under_test.log
    active = pcr_ops.active_banks(tpm)
    banks = [b for b in log.banks if b in active]
    pcrs = checked_pcrs(log)
    enrollment = enroll(tpm, "rsa", boot_under_test.ca_certs)
    try:
        quote = take_quote(tpm, enrollment.ak_handle, banks, pcrs)
        expected = expected_values(log, replay(log), pcrs)
        checks = verify_quote(quote, enrollment.ak_key(), enrollment.ak_qualified_name,
                              {b: expected[b] for b in banks})
        ak_pem = enrollment.ak_pem()
    finally:
        enrollment.flush(tpm)
    if results is not None:  # evidence for the assessor: the log, the quote, the AK
        out = results.evidence_dir / "attestation"
        out.mkdir(exist_ok=True)
        (out / "eventlog.bin").write_bytes(boot_under_test.path.read_bytes())
        (out / "ak_public.pem").write_bytes(ak_pem)
        (out / "quote.json").write_text(json.dumps(
            {**quote.to_dict(), "checks": [{"check": n, "ok": ok, "detail": t}
                                           for n, ok, t in checks]}, indent=2, default=str))
    failed = [f"{name}: {text}" for name, ok, text in checks if not ok]
    assert not failed, failed


@pytest.mark.spec("TPM 2.0 Part 3 §18.4 Quote")
@pytest.mark.negative
@pytest.mark.needs("hierarchy:endorsement")
def test_quote_does_not_attest_a_log_with_one_changed_digest(tpm, boot_under_test):
    log = boot_under_test.log
    active = pcr_ops.active_banks(tpm)
    banks = [b for b in log.banks if b in active]
    pcrs = checked_pcrs(log)
    enrollment = enroll(tpm, "rsa", boot_under_test.ca_certs)
    try:
        quote = take_quote(tpm, enrollment.ak_handle, banks, pcrs)
    finally:
        enrollment.flush(tpm)
    tampered = type(log)(log.spec_id, [type(e)(e.index, e.offset, e.pcr, e.event_type,
                                               dict(e.digests), e.data) for e in log.events],
                         log.source)
    victim = next(e for e in tampered.events if e.extends)
    bank = banks[-1]
    victim.digests[bank] = bytes([victim.digests[bank][0] ^ 1]) + victim.digests[bank][1:]
    expected = expected_values(tampered, replay(tampered), pcrs)
    checks = dict((n, ok) for n, ok, _t in verify_quote(
        quote, enrollment.ak_key(), enrollment.ak_qualified_name,
        {b: expected[b] for b in banks}))
    assert checks["signature"] and not checks["pcr digest"]
    report = compare(tampered, quote.pcr_read, "quoted PCRs", active_banks=active)
    assert report.first_event is not None and report.first_event.index == victim.index


@pytest.mark.spec("TCG PC Client PFP §10.4 (expected measurements per board type)")
def test_golden_measurements_per_stage(boot_under_test):
    if boot_under_test.golden is None:
        pytest.skip("no golden file for this board type: set TPMHIL_GOLDEN=FILE")
    result = evaluate(boot_under_test.golden, boot_under_test.log)
    failed = [f"{s.stage}: {'; '.join(s.details)}" for s in result.stages if not s.ok]
    assert not failed, failed
