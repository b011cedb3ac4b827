"""Primary keys, Sign verified in software, VerifySignature of software
signatures: TPM 2.0 Part 3 §24.1 CreatePrimary, §20.2 Sign, §20.1 VerifySignature."""

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_RH, TPM2_ST
from tpm2_pytss.types import (
    TPM2B_PUBLIC, TPMT_SIG_SCHEME, TPMT_SIGNATURE, TPMT_TK_HASHCHECK,
)

from harness.tpm.software import public_key, tpm_public_from_key

needs = pytest.mark.needs
# Primaries and software keys live in the owner hierarchy.
pytestmark = [pytest.mark.functional, needs("hierarchy:owner")]
P256 = ("alg:ecc", "curve:nist_p256", "alg:ecdsa", "alg:sha256")
KEY_NEEDS = {"rsa2048": ("alg:rsa", "rsa:2048", "alg:rsassa", "alg:sha256"), "ecc256": P256}

SIGN_ATTRS = ("userwithauth|sign|fixedtpm|fixedparent|sensitivedataorigin")
TEMPLATES = {
    "rsa2048": "rsa2048:rsassa-sha256:null",
    "ecc256": "ecc256:ecdsa-sha256:null",
}


def _primary(tpm, name: str):
    public = TPM2B_PUBLIC.parse(TEMPLATES[name], objectAttributes=SIGN_ATTRS)
    handle, out_public, _, _, _ = tpm.create_primary(None, public, ESYS_TR.OWNER)
    return handle, out_public


def _scheme(name: str) -> TPMT_SIG_SCHEME:
    scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.RSASSA if name.startswith("rsa") else TPM2_ALG.ECDSA)
    scheme.details.any.hashAlg = TPM2_ALG.SHA256
    return scheme


def _null_ticket() -> TPMT_TK_HASHCHECK:
    return TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL)


def _verify_in_software(name, out_public, signature, message):
    key = public_key(out_public)
    if name.startswith("rsa"):
        key.verify(bytes(signature.signature.rsassa.sig), message, padding.PKCS1v15(),
                   hashes.SHA256())
    else:
        sig = encode_dss_signature(
            int.from_bytes(bytes(signature.signature.ecdsa.signatureR), "big"),
            int.from_bytes(bytes(signature.signature.ecdsa.signatureS), "big"))
        key.verify(sig, message, ec.ECDSA(hashes.SHA256()))


@pytest.mark.spec("TPM 2.0 Part 3 §24.1 TPM2_CreatePrimary, §20.2 TPM2_Sign")
@pytest.mark.requirement("IEC62443-4-2:CR 1.9", "IEC62443-4-2:CR 2.12", "IEC62443-4-2:CR 4.3",
                         "FIPS140-3:approved-algorithms")
@pytest.mark.verifies("Sign")
@pytest.mark.parametrize("name", [pytest.param(n, marks=needs(*KEY_NEEDS[n]))
                                  for n in sorted(TEMPLATES)])
def test_sign_verifies_with_cryptography(tpm, name):
    handle, out_public = _primary(tpm, name)
    message = b"tpm-hil: signed by the chip, checked in software"
    digest = hashlib.sha256(message).digest()
    signature = tpm.sign(handle, digest, _scheme(name), _null_ticket())
    _verify_in_software(name, out_public, signature, message)


@pytest.mark.spec("TPM 2.0 Part 1 §26.3: primary keys are derived deterministically")
@pytest.mark.requirement("IEC62443-4-2:CR 3.6")
@needs(*P256)
def test_primary_derivation_is_deterministic(tpm):
    h1, pub1 = _primary(tpm, "ecc256")
    tpm.flush_context(h1)
    h2, pub2 = _primary(tpm, "ecc256")
    assert bytes(pub1.marshal()) == bytes(pub2.marshal()), "same template gave different keys"


@pytest.mark.spec("TPM 2.0 Part 3 §20.1 TPM2_VerifySignature")
@pytest.mark.requirement("IEC62443-4-2:CR 1.9", "FIPS140-3:approved-algorithms")
@needs(*P256, "cc:TPM2_LoadExternal")
@pytest.mark.verifies("VerifySignature", "LoadExternal")
def test_verify_signature_of_software_ecdsa(tpm):
    private = ec.generate_private_key(ec.SECP256R1())
    message = b"signed in software, verified by the chip"
    der = private.sign(message, ec.ECDSA(hashes.SHA256()))
    handle, signature = _load_software_key(tpm, private, der)
    ticket = tpm.verify_signature(handle, hashlib.sha256(message).digest(), signature)
    assert ticket.tag == TPM2_ST.VERIFIED


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §20.1: a bad signature is TPM_RC_SIGNATURE")
@pytest.mark.requirement("IEC62443-4-2:CR 1.9", "IEC62443-4-2:CR 3.1")
@needs(*P256, "cc:TPM2_LoadExternal")
def test_tampered_signature_is_rejected(tpm, expect_rc):
    private = ec.generate_private_key(ec.SECP256R1())
    message = b"signed in software, tampered, refused by the chip"
    der = private.sign(message, ec.ECDSA(hashes.SHA256()))
    handle, signature = _load_software_key(tpm, private, der)
    s = bytearray(bytes(signature.signature.ecdsa.signatureS))
    s[-1] ^= 0x01
    signature.signature.ecdsa.signatureS = bytes(s)
    with expect_rc(0x2DB):  # TPM_RC_SIGNATURE (parameter 2)
        tpm.verify_signature(handle, hashlib.sha256(message).digest(), signature)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §20.2: a scheme that does not match the key is TPM_RC_SCHEME")
@pytest.mark.requirement("IEC62443-4-2:CR 4.3", "IEC62443-4-2:CR 3.7")
@needs(*P256)
def test_sign_with_mismatched_scheme_is_refused(tpm, expect_rc):
    handle, _ = _primary(tpm, "ecc256")
    scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.RSASSA)
    scheme.details.any.hashAlg = TPM2_ALG.SHA256
    with expect_rc(0x2D2):  # TPM_RC_SCHEME (parameter 2)
        tpm.sign(handle, hashlib.sha256(b"x").digest(), scheme, _null_ticket())


def _load_software_key(tpm, private, der_signature):
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    public = tpm_public_from_key(private.public_key(), 0x00040000)  # TPMA_OBJECT_SIGN_ENCRYPT
    handle = tpm.load_external(public, None, ESYS_TR.RH_OWNER)
    r, s = decode_dss_signature(der_signature)
    signature = TPMT_SIGNATURE(sigAlg=TPM2_ALG.ECDSA)
    signature.signature.ecdsa.hash = TPM2_ALG.SHA256
    signature.signature.ecdsa.signatureR = r.to_bytes(32, "big")
    signature.signature.ecdsa.signatureS = s.to_bytes(32, "big")
    return handle, signature
