"""Quote verified in software against the PCR values: TPM 2.0 Part 3 §18.4."""

import os

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG
from tpm2_pytss.types import TPM2B_PUBLIC, TPMT_SIG_SCHEME

from harness.attest.quote import TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE, parse_attest
from harness.reference import pcr
from harness.reference.hashes import TPM_ALG_SHA256
from harness.tpm.software import public_key

# The AK is an endorsement-hierarchy primary; the quoted PCRs are in the sha256 bank.
pytestmark = [pytest.mark.functional,
              pytest.mark.needs("hierarchy:endorsement", "bank:sha256", "alg:ecc",
                                "curve:nist_p256", "alg:ecdsa", "cc:TPM2_Quote")]

PCRS = [0, 1, 2, 3, 7, 16]
AK_ATTRS = "userwithauth|restricted|sign|fixedtpm|fixedparent|sensitivedataorigin"


def _ak(tpm):
    public = TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256:null", objectAttributes=AK_ATTRS)
    handle, out_public, _, _, _ = tpm.create_primary(None, public, ESYS_TR.ENDORSEMENT)
    return handle, out_public


def _quote(tpm, handle, nonce):
    scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.ECDSA)
    scheme.details.any.hashAlg = TPM2_ALG.SHA256
    selection = "sha256:" + ",".join(map(str, PCRS))
    attest, signature = tpm.quote(handle, selection, nonce, scheme)
    return bytes(attest), signature


def _der(signature) -> bytes:
    return encode_dss_signature(
        int.from_bytes(bytes(signature.signature.ecdsa.signatureR), "big"),
        int.from_bytes(bytes(signature.signature.ecdsa.signatureS), "big"))


@pytest.mark.spec("TPM 2.0 Part 3 §18.4 TPM2_Quote; Part 2 §10.12.12 TPMS_ATTEST")
@pytest.mark.requirement("IEC62443-4-2:CR 3.4", "IEC62443-4-2:EDR 3.14", "IEC62443-4-2:CR 2.12",
                         "IEC62443-4-2:CR 1.2")
@pytest.mark.verifies("Quote")
def test_quote_signature_nonce_and_pcr_digest(tpm):
    handle, public = _ak(tpm)
    nonce = os.urandom(32)
    attest, signature = _quote(tpm, handle, nonce)
    public_key(public).verify(_der(signature), attest, ec.ECDSA(hashes.SHA256()))
    quote = parse_attest(attest)
    assert quote.magic == TPM_GENERATED_VALUE
    assert quote.type == TPM_ST_ATTEST_QUOTE
    assert quote.extra_data == nonce
    assert quote.selection == [("sha256", PCRS)]
    _, _, digests = tpm.pcr_read("sha256:" + ",".join(map(str, PCRS)))
    values = [bytes(digests.digests[i]) for i in range(digests.count)]
    assert quote.pcr_digest == pcr.composite(TPM_ALG_SHA256, values), \
        "quoted PCR digest differs from the digest of the PCR values read"


@pytest.mark.negative
@pytest.mark.requirement("IEC62443-4-2:CR 3.1")
def test_tampered_quote_fails_software_verification(tpm):
    handle, public = _ak(tpm)
    attest, signature = _quote(tpm, handle, os.urandom(16))
    # The untampered quote verifies: the failure below is the tampering, not a bad verifier.
    public_key(public).verify(_der(signature), attest, ec.ECDSA(hashes.SHA256()))
    tampered = bytearray(attest)
    tampered[-1] ^= 0x01  # one bit of the PCR digest
    with pytest.raises(InvalidSignature):
        public_key(public).verify(_der(signature), bytes(tampered), ec.ECDSA(hashes.SHA256()))


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §18.4: signHandle must be a signing key, else TPM_RC_KEY")
@pytest.mark.requirement("IEC62443-4-2:CR 3.7", "IEC62443-4-2:CR 4.3")
@pytest.mark.needs("hierarchy:owner", "alg:aes", "alg:cfb", "aes:128")
def test_quote_with_decrypt_only_key_is_refused(tpm, expect_rc):
    public = TPM2B_PUBLIC.parse(
        "ecc256:aes128cfb",
        objectAttributes="userwithauth|restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin")
    handle, _, _, _, _ = tpm.create_primary(None, public, ESYS_TR.OWNER)
    with expect_rc(0x19C):  # TPM_RC_KEY (handle 1)
        _quote(tpm, handle, os.urandom(16))
