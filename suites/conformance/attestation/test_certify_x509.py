"""TPM2_CertifyX509 (TPM 2.0 Part 3 §18.8): the TPM completes a partial
certificate; the TBSCertificate rebuilt in software from the partial
certificate and the TPM's additions hashes to tbsDigest, the signature
verifies over it, and the certificate parses with ``cryptography``."""

import datetime
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from cryptography.x509.oid import NameOID
from tpm2_pytss import TSS2_Exception
from tpm2_pytss.constants import TPM2_ALG
from tpm2_pytss.types import TPMT_SIG_SCHEME

from harness.reference import der
from harness.tpm.names import rc_name
from harness.tpm.software import public_key

pytestmark = [pytest.mark.conformance, pytest.mark.attestation]
REQ = ("IEC62443-4-2:CR 1.8", "IEC62443-4-2:CR 2.12")
SIGN = "userwithauth|sign|fixedtpm|fixedparent|sensitivedataorigin"
KEY_USAGE_OID = bytes.fromhex("0603551d0f")  # 2.5.29.15
NEEDS = ("hierarchy:owner", "alg:ecc", "curve:nist_p256", "alg:ecdsa", "alg:sha256",
         "cc:TPM2_CertifyX509")
TPM_RC_ATTRIBUTES, TPM_RC_VALUE = 0x082, 0x084
RC_H1, RC_P3 = 0x100, 0x340


def _partial_certificate(key_usage_bits: int) -> tuple[bytes, list[bytes]]:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tpm-hil test")]).public_bytes()
    unused = (key_usage_bits & -key_usage_bits).bit_length() - 1  # trailing zero bits
    validity = der.sequence(der.tlv(0x17, b"260101000000Z"), der.tlv(0x17, b"360101000000Z"))
    key_usage = der.sequence(KEY_USAGE_OID, der.tlv(0x01, b"\xff"),
                             der.tlv(0x04, der.tlv(0x03, bytes([unused, key_usage_bits]))))
    extensions = der.tlv(0xA3, der.sequence(key_usage))
    fields = [name, validity, name, extensions]
    return der.sequence(*fields), fields


def _scheme():
    s = TPMT_SIG_SCHEME(scheme=TPM2_ALG.ECDSA)
    s.details.any.hashAlg = TPM2_ALG.SHA256
    return s


@pytest.mark.spec("TPM 2.0 Part 3 §18.8 TPM2_CertifyX509")
@pytest.mark.requirement(*REQ)
@pytest.mark.needs(*NEEDS)
@pytest.mark.verifies("CertifyX509")
def test_certify_x509_rebuilds_and_verifies(tpm, primary):
    signer, signer_pub = primary("ecc256:ecdsa-sha256:null", SIGN)
    obj, obj_pub = primary("ecc256:ecdsa-sha256:null", SIGN)
    partial, (issuer, validity, subject, extensions) = _partial_certificate(0x80)
    added, tbs_digest, sig = tpm.certify_x509(obj, signer, partial, _scheme())
    version, serial, algorithm, spki = der.split(der.contents(bytes(added)))
    tbs = der.sequence(version, serial, algorithm, issuer, validity, subject, spki, extensions)
    assert hashlib.sha256(tbs).digest() == bytes(tbs_digest)
    r = int.from_bytes(bytes(sig.signature.ecdsa.signatureR), "big")
    s = int.from_bytes(bytes(sig.signature.ecdsa.signatureS), "big")
    public_key(signer_pub).verify(encode_dss_signature(r, s), bytes(tbs_digest),
                                  ec.ECDSA(Prehashed(hashes.SHA256())))
    cert_der = der.sequence(tbs, algorithm, der.tlv(0x03, b"\x00" + encode_dss_signature(r, s)))
    cert = x509.load_der_x509_certificate(cert_der)
    assert cert.public_key().public_numbers() == public_key(obj_pub).public_numbers()
    assert cert.not_valid_before_utc == datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §18.8 TPM2_CertifyX509: a keyUsage the object's attributes do "
                  "not allow (keyEncipherment for a signing-only key) is TPM_RC_ATTRIBUTES")
@pytest.mark.requirement(*REQ)
@pytest.mark.needs(*NEEDS)
def test_certify_x509_inconsistent_key_usage(tpm, primary, chip):
    signer, _ = primary("ecc256:ecdsa-sha256:null", SIGN)
    obj, _ = primary("ecc256:ecdsa-sha256:null", SIGN)
    partial, _ = _partial_certificate(0x20)  # keyEncipherment
    # Part 3 §18.8's contract: TPM_RC_ATTRIBUTES, on objectHandle or on partialCertificate.
    allowed = {TPM_RC_ATTRIBUTES + RC_H1, TPM_RC_ATTRIBUTES + RC_P3}
    if "certify_x509_key_usage_value" in chip.reference_behaviours:
        allowed.add(TPM_RC_VALUE + RC_P3)  # the reference code's keyUsage check
    with pytest.raises(TSS2_Exception) as info:
        tpm.certify_x509(obj, signer, partial, _scheme())
    rc = int(info.value.rc)
    assert rc in allowed, (f"expected one of {', '.join(rc_name(c) for c in sorted(allowed))}, "
                           f"got {rc_name(rc)}")
