"""Software MakeCredential through the chip's ActivateCredential; quote checks that must fail."""

from __future__ import annotations

import datetime
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from tpm2_pytss import TSS2_Exception
from tpm2_pytss.types import TPM2B_ENCRYPTED_SECRET, TPM2B_ID_OBJECT

from harness.attest import enroll as en_mod
from harness.attest.credential import make_credential
from harness.reference.hashes import TPM_ALG_SHA256
from harness.reference.kdf import kdfa
from harness.attest.flow import attest
from harness.attest.quote import take_quote, verify_quote
from harness.attest.replay import SRTM_PCRS, expected_values, replay
from harness.swtpm_process import ca_root_certificates


@pytest.fixture()
def enrolled(measured_tpm):
    cas = en_mod.load_ca_certificates(ca_root_certificates())
    enrollment = en_mod.enroll(measured_tpm.esapi, "rsa", cas)
    yield enrollment
    enrollment.flush(measured_tpm.esapi)


def test_kdfa_depends_on_every_input():
    base = kdfa(TPM_ALG_SHA256, b"k" * 32, b"STORAGE", b"u", b"v", 128)
    assert len(base) == 16
    assert len({base, kdfa(TPM_ALG_SHA256, b"j" * 32, b"STORAGE", b"u", b"v", 128),
                kdfa(TPM_ALG_SHA256, b"k" * 32, b"INTEGRITY", b"u", b"v", 128),
                kdfa(TPM_ALG_SHA256, b"k" * 32, b"STORAGE", b"x", b"v", 128),
                kdfa(TPM_ALG_SHA256, b"k" * 32, b"STORAGE", b"u", b"x", 128)}) == 5
    assert kdfa(TPM_ALG_SHA256, b"k" * 32, b"STORAGE", b"u", b"v", 256)[:16] != base  # L is hashed in


def test_rsa_ek_certificate_chains_and_ak_is_activated(enrolled):
    assert enrolled.activated
    assert enrolled.ek_certificate is not None
    assert any("chain" in c and "swtpm-localca" in c for c in enrolled.checks)
    assert enrolled.ak_name[:2] == b"\x00\x0b" and len(enrolled.ak_name) == 34


def test_ek_policy_digests_match_the_ek_credential_profile():
    from harness.attest.ek_policy import POLICY_C, policy_a, policy_or

    # TCG EK Credential Profile: PolicyA (low-range authPolicy) and PolicyB (high range)
    assert policy_a("sha256").hex() == \
        "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa"
    assert policy_or("sha256", [policy_a("sha256"), POLICY_C["sha256"]]).hex() == \
        "ca3d0a99a2b93906f7a3342414efcfb3a385d44cd1fd459089d19b5071c0b7a0"


def test_certified_p384_ek_high_range_policy_and_kdfe(measured_tpm):
    """H-3 template: PolicyOR(PolicySecret, PolicyAuthorizeNV) session, ECDH + KDFe with SHA-384."""
    cas = en_mod.load_ca_certificates(ca_root_certificates())
    enrollment = en_mod.enroll(measured_tpm.esapi, "ecc384", cas)
    try:
        assert enrollment.activated and enrollment.ek_certificate is not None
        assert isinstance(enrollment.ek_certificate.public_key(), ec.EllipticCurvePublicKey)
        assert enrollment.ek_certificate.public_key().curve.name == "secp384r1"
    finally:
        enrollment.flush(measured_tpm.esapi)


def test_ecc_ek_make_credential_round_trips(measured_tpm):
    """ECDH + KDFe secret sharing (Part 1 §C.6.4) accepted by the chip's ActivateCredential."""
    enrollment = en_mod.enroll(measured_tpm.esapi, "ecc", None, require_certificate=False)
    try:
        assert enrollment.activated
        assert any("NOT certified" in c for c in enrollment.checks)
    finally:
        enrollment.flush(measured_tpm.esapi)


def _activate_raw(esapi, enrollment, blob: bytes, secret: bytes) -> bytes:
    id_object, _ = TPM2B_ID_OBJECT.unmarshal(len(blob).to_bytes(2, "big") + blob)
    session = en_mod._ek_session(esapi, enrollment)
    try:
        return bytes(esapi.activate_credential(enrollment.ak_handle, enrollment.ek_handle,
                                               id_object, TPM2B_ENCRYPTED_SECRET(secret),
                                               session2=session))
    finally:
        en_mod._flush_quietly(esapi, session)


def test_software_credential_round_trips_and_binds_to_the_ak_name(measured_tpm, enrolled):
    esapi = measured_tpm.esapi
    ek_key = enrolled.ek_certificate.public_key()
    secret = os.urandom(32)
    blob, enc = make_credential(ek_key, "sha256", 128, enrolled.ak_name, secret)
    assert _activate_raw(esapi, enrolled, blob, enc) == secret
    wrong_name = enrolled.ak_name[:-1] + bytes([enrolled.ak_name[-1] ^ 1])
    blob, enc = make_credential(ek_key, "sha256", 128, wrong_name, secret)
    with pytest.raises(TSS2_Exception) as info:
        _activate_raw(esapi, enrolled, blob, enc)
    assert "integrity" in str(info.value).lower()


def test_credential_for_another_ek_is_refused(measured_tpm, enrolled):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    blob, enc = make_credential(other, "sha256", 128, enrolled.ak_name, os.urandom(32))
    with pytest.raises(TSS2_Exception):
        _activate_raw(measured_tpm.esapi, enrolled, blob, enc)


def test_ek_certificate_from_a_foreign_ca_is_refused(enrolled):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "swtpm-localca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    rogue = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
             .public_key(key.public_key()).serial_number(1).not_valid_before(now)
             .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    with pytest.raises(en_mod.EnrollmentError, match="not validly signed"):
        en_mod.verify_chain(enrolled.ek_certificate, [rogue])
    with pytest.raises(en_mod.EnrollmentError, match="no CA certificate"):
        en_mod.verify_chain(enrolled.ek_certificate, [])


def test_signing_key_without_restricted_is_not_an_ak(enrolled):
    enrolled.ak_public.publicArea.objectAttributes &= ~en_mod.TPMA_OBJECT.RESTRICTED
    with pytest.raises(en_mod.EnrollmentError, match="restricted"):
        en_mod.verify_ak_attributes(enrolled.ak_public)


@pytest.fixture()
def quoted(measured_tpm, enrolled):
    log = measured_tpm.log()
    pcrs = list(SRTM_PCRS)
    quote = take_quote(measured_tpm.esapi, enrolled.ak_handle, log.banks, pcrs)
    return quote, expected_values(log, replay(log), pcrs)


def _failed(checks) -> list[str]:
    return [name for name, ok, _text in checks if not ok]


def test_quote_verifies_against_the_replayed_log(enrolled, quoted):
    quote, expected = quoted
    checks = verify_quote(quote, enrolled.ak_key(), enrolled.ak_qualified_name, expected)
    assert _failed(checks) == []
    assert {n for n, _ok, _t in checks} >= {"signature", "nonce", "signer", "pcr digest", "clock"}


def test_tampered_quote_or_signature_fails(enrolled, quoted):
    quote, expected = quoted
    good_attest, good_sig = quote.attest, quote.signature
    quote.attest = good_attest[:-1] + bytes([good_attest[-1] ^ 1])
    assert _failed(verify_quote(quote, enrolled.ak_key(), enrolled.ak_qualified_name,
                                expected)) == ["signature"]
    quote.attest, quote.signature = good_attest, good_sig[:-1] + bytes([good_sig[-1] ^ 1])
    assert _failed(verify_quote(quote, enrolled.ak_key(), enrolled.ak_qualified_name,
                                expected)) == ["signature"]


def test_stale_nonce_wrong_values_and_clock_fail(enrolled, quoted):
    quote, expected = quoted
    quote.nonce = os.urandom(32)
    assert "nonce" in _failed(verify_quote(quote, enrolled.ak_key(),
                                           enrolled.ak_qualified_name, expected))
    expected["sha384"][4] = bytes(48)
    assert "pcr digest" in _failed(verify_quote(quote, enrolled.ak_key(),
                                                enrolled.ak_qualified_name, expected))
    quote.reference.reset_count += 1
    assert "clock" in _failed(verify_quote(quote, enrolled.ak_key(),
                                           enrolled.ak_qualified_name, expected))


def test_whole_flow_passes_then_names_a_changed_digest(measured_tpm, tmp_path):
    log = measured_tpm.log()
    path = tmp_path / "synthetic.log"
    path.write_bytes(measured_tpm.log_bytes)
    cas = en_mod.load_ca_certificates(ca_root_certificates())
    result = attest(measured_tpm.esapi, log, path, None, cas)
    assert result.ok, result.failures()
    assert [s.status for s in result.stages] == ["PASS"] * len(result.stages)
    boot_app = next(e for e in log.events if e.type_name == "EV_EFI_BOOT_SERVICES_APPLICATION")
    boot_app.digests["sha256"] = bytes(32)
    result = attest(measured_tpm.esapi, log, None, None, cas)
    failed = {s.name: s for s in result.stages if s.failed}
    assert set(failed) == {"replay vs quote", "replay vs PCR_Read"}
    for stage in failed.values():
        assert f"event #{boot_app.index} (EV_EFI_BOOT_SERVICES_APPLICATION" in stage.summary
