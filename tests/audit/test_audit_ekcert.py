"""EK credentials against the TCG EK Credential Profile: swtpm's pass; certificates
that break each rule are caught with the rule named."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from harness.audit import ekcert
from harness.audit.checks import FAIL, PASS, check_ek_credentials
from harness.errors import ConfigError
from harness.swtpm_process import ca_root_certificates


def _key_usage(**set_) -> x509.KeyUsage:
    flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                 data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                 encipher_only=False, decipher_only=False)
    flags.update(set_)
    return x509.KeyUsage(**flags)


def _ca(cn: str = "test TPM vendor root", issuer=None, ca: bool = True):
    """A root CA, or (``issuer`` = (key, cert)) an intermediate; ``ca=False`` makes
    its basicConstraints say cA=FALSE (the broken intermediate of issue 18)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    signer_key, issuer_name = (key, name) if issuer is None else (issuer[0], issuer[1].subject)
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=365))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .sign(signer_key, hashes.SHA256()))
    return key, cert


def _ek_cert(ca, subject_key, *, san=True, key_usage="keyEncipherment", days=(-1, 3650)):
    ca_key, ca_cert = ca
    now = dt.datetime.now(dt.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(ca_cert.subject)
         .public_key(subject_key).serial_number(7)
         .not_valid_before(now + dt.timedelta(days=days[0]))
         .not_valid_after(now + dt.timedelta(days=days[1])))
    if san:
        dn = x509.Name([x509.RelativeDistinguishedName([
            x509.NameAttribute(ekcert.OID_TPM_MANUFACTURER, "id:53544D20"),
            x509.NameAttribute(ekcert.OID_TPM_MODEL, "ST33KTPM2X"),
            x509.NameAttribute(ekcert.OID_TPM_VERSION, "id:00090001")])])
        b = b.add_extension(x509.SubjectAlternativeName([x509.DirectoryName(dn)]), critical=True)
    flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                 data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                 encipher_only=False, decipher_only=False)
    if key_usage:
        flags[{"keyEncipherment": "key_encipherment", "keyAgreement": "key_agreement"}[key_usage]] = True
    b = b.add_extension(x509.KeyUsage(**flags), critical=True)
    return b.sign(ca_key, hashes.SHA256()).public_bytes(Encoding.DER)


class _Public:
    """A TPM2B_PUBLIC stand-in built from a cryptography key (the 'derived EK')."""

    def __init__(self, key):
        from tpm2_pytss.types import TPM2B_PUBLIC
        from cryptography.hazmat.primitives.serialization import PublicFormat

        pem = key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        self.publicArea = TPM2B_PUBLIC.from_pem(pem).publicArea


def _failed(finding):
    return {c.name for c in finding.checks if not c.ok}


@pytest.fixture(scope="module")
def lab():
    ca = _ca()
    key = rsa.generate_private_key(65537, 2048)
    return ca, key


def test_conforming_certificate_passes(lab):
    ca, key = lab
    raw = _ek_cert(ca, key.public_key()) + b"\xff" * 40  # NV padding after the DER
    f = ekcert.check_certificate(0x01C00002, raw, _Public(key.public_key()), [ca[1]])
    assert f.ok, [c.__dict__ for c in f.checks]


@pytest.mark.parametrize("kwargs,broken", [
    ({"san": False}, {"san_tpm_attributes"}),
    ({"key_usage": "keyAgreement"}, {"key_usage"}),
    ({"key_usage": None}, {"key_usage"}),
    ({"days": (-30, -1)}, {"validity"}),
    ({"days": (5, 30)}, {"validity"}),
])
def test_each_profile_rule_is_enforced(lab, kwargs, broken):
    ca, key = lab
    f = ekcert.check_certificate(0x01C00002, _ek_cert(ca, key.public_key(), **kwargs),
                                 _Public(key.public_key()), [ca[1]])
    assert _failed(f) == broken


def test_weak_rsa_key_is_refused(lab):
    ca, _ = lab
    weak = rsa.generate_private_key(65537, 1024)
    f = ekcert.check_certificate(0x01C00002, _ek_cert(ca, weak.public_key()),
                                 _Public(weak.public_key()), [ca[1]])
    assert _failed(f) == {"key_strength"}


def test_ecc_below_p256_is_refused(lab):
    ca, _ = lab
    weak = ec.generate_private_key(ec.SECP224R1())
    f = ekcert.check_certificate(0x01C0000A, _ek_cert(ca, weak.public_key(), key_usage="keyAgreement"),
                                 None, [ca[1]])
    assert _failed(f) == {"key_strength", "matches_derived_ek"}


def test_certificate_for_another_key_is_caught(lab):
    ca, key = lab
    other = rsa.generate_private_key(65537, 2048)
    f = ekcert.check_certificate(0x01C00002, _ek_cert(ca, key.public_key()),
                                 _Public(other.public_key()), [ca[1]])
    assert _failed(f) == {"matches_derived_ek"}


def test_untrusted_issuer_is_caught(lab):
    ca, key = lab
    f = ekcert.check_certificate(0x01C00002, _ek_cert(ca, key.public_key()),
                                 _Public(key.public_key()), [_ca()[1]])
    assert _failed(f) == {"chain"}
    f = ekcert.check_certificate(0x01C00002, _ek_cert(ca, key.public_key()), _Public(key.public_key()), [])
    assert _failed(f) == {"chain"}


def test_chain_through_a_vendor_intermediate_passes(lab):
    root = _ca()
    inter = _ca("test TPM vendor EK CA 01", issuer=root)
    _, key = lab
    f = ekcert.check_certificate(0x01C00002, _ek_cert(inter, key.public_key()),
                                 _Public(key.public_key()), [root[1], inter[1]])
    assert f.ok, [c.__dict__ for c in f.checks]
    chain = next(c for c in f.checks if c.name == "chain")
    assert "test TPM vendor EK CA 01" in chain.detail and "test TPM vendor root" in chain.detail


def test_chain_through_a_non_ca_intermediate_is_rejected(lab):
    """Issue 18: an intermediate whose basicConstraints say cA=FALSE cannot issue an
    EK certificate, although every signature on the path verifies."""
    root = _ca()
    not_a_ca = _ca("test TPM vendor end entity", issuer=root, ca=False)
    _, key = lab
    raw = _ek_cert(not_a_ca, key.public_key())
    f = ekcert.check_certificate(0x01C00002, raw, _Public(key.public_key()), [root[1], not_a_ca[1]])
    assert _failed(f) == {"chain"}
    detail = next(c.detail for c in f.checks if c.name == "chain")
    assert "basicConstraints.cA must be asserted" in detail
    from harness import ek  # the functional suite's chain check: the same verdict

    cert = x509.load_der_x509_certificate(raw)
    with pytest.raises(ek.EkChainError, match="does not verify.*basicConstraints.cA"):
        ek.verify_chain(cert, [root[1], not_a_ca[1]])
    good = _ca("test TPM vendor EK CA 02", issuer=root)
    assert len(ek.verify_chain(x509.load_der_x509_certificate(_ek_cert(good, key.public_key())),
                               [root[1], good[1]])) == 3


def test_ca_without_key_cert_sign_is_rejected(lab):
    """RFC 5280 §4.2.1.3: a CA certificate signs certificates only with keyCertSign."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "root without keyCertSign")])
    now = dt.datetime.now(dt.timezone.utc)
    root = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(3).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .sign(key, hashes.SHA256()))
    _, ek_key = lab
    f = ekcert.check_certificate(0x01C00002, _ek_cert((key, root), ek_key.public_key()),
                                 _Public(ek_key.public_key()), [root])
    assert _failed(f) == {"chain"}


def test_only_intermediates_and_no_root_is_named(lab):
    root = _ca()
    inter = _ca("test TPM vendor EK CA 03", issuer=root)
    _, key = lab
    f = ekcert.check_certificate(0x01C00002, _ek_cert(inter, key.public_key()),
                                 _Public(key.public_key()), [inter[1]])
    assert _failed(f) == {"chain"}
    assert "self-signed root" in next(c.detail for c in f.checks if c.name == "chain")


def test_garbage_is_reported_as_unparseable():
    f = ekcert.check_certificate(0x01C00002, b"\x30\x03\x02\x01\x00", None, [])
    assert _failed(f) == {"parse"}


def test_trust_roots_errors_name_the_file(tmp_path):
    bad = tmp_path / "vendor.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="vendor.pem"):
        ekcert.load_trust_roots([tmp_path])
    with pytest.raises(ConfigError, match="does not exist"):
        ekcert.load_trust_roots([tmp_path / "missing"])


def test_swtpm_ek_certificates_meet_the_profile(audit_chip):
    roots = ekcert.load_trust_roots(ca_root_certificates())
    outcome = check_ek_credentials(audit_chip.esapi, audit_chip.identity, roots)
    assert outcome.verdict == PASS, outcome.summary
    kinds = {d["kind"] for d in outcome.details}
    assert kinds == {"EK-RSA2048", "EK-HIGH-ECC384"}
    for d in outcome.details:
        assert {c["name"] for c in d["checks"]} == {"parse", "san_tpm_attributes", "key_strength",
                                                    "key_usage", "validity", "matches_derived_ek", "chain"}


def test_swtpm_without_roots_fails_the_chain(audit_chip):
    outcome = check_ek_credentials(audit_chip.esapi, audit_chip.identity, [])
    assert outcome.verdict == FAIL
    assert "chain: no trusted roots supplied" in outcome.summary


def test_trust_folder_with_a_key_beside_the_certificates(tmp_path):
    """A CA's private key left in the roots folder is not a trust anchor and not an error."""
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    from harness import ek

    key, cert = _ca()
    (tmp_path / "root.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    (tmp_path / "root-key.pem").write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                                              NoEncryption()))
    assert ekcert.load_trust_roots([tmp_path]) == [cert]
    assert ek.trusted_roots(str(tmp_path)) == [cert]
    with pytest.raises(ConfigError, match="is not a directory"):
        ek.trusted_roots(str(tmp_path / "root.pem"))


def test_attestation_enrollment_rejects_a_non_ca_intermediate_too(lab):
    """``tpmhil attest`` enrolls through the same chain check (harness.ek.verify_chain)."""
    from harness.attest.enroll import EnrollmentError, verify_chain

    root = _ca()
    not_a_ca = _ca("test TPM vendor end entity", issuer=root, ca=False)
    good = _ca("test TPM vendor EK CA 04", issuer=root)
    _, key = lab
    bad_cert = x509.load_der_x509_certificate(_ek_cert(not_a_ca, key.public_key()))
    with pytest.raises(EnrollmentError, match="basicConstraints.cA"):
        verify_chain(bad_cert, [root[1], not_a_ca[1]])
    good_cert = x509.load_der_x509_certificate(_ek_cert(good, key.public_key()))
    assert verify_chain(good_cert, [root[1], good[1]]) == \
        "CN=test TPM vendor EK CA 04 -> CN=test TPM vendor root"
