"""HMAC sessions (TPM 2.0 Part 1 §19.6; Part 3 §11.1 StartAuthSession): unbound
and bound, unsalted and salted (RSA and ECC tpmKey); parameter encryption
with AES-CFB and XOR (Part 1 §21). Values written through encrypted sessions
read back unchanged; a wrong authValue is refused with the exact code."""

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_SE, TPMA_NV, TPMA_SESSION
from tpm2_pytss.types import TPM2B_NV_PUBLIC, TPM2B_PUBLIC, TPMS_NV_PUBLIC, TPMT_SYM_DEF

pytestmark = [pytest.mark.conformance]
REQ = ("IEC62443-4-2:CR 3.1", "IEC62443-4-2:CR 3.8", "IEC62443-4-2:CR 4.1")
NV_INDEX = 0x01500300
DECRYPT_KEY = "userwithauth|restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin"


def _sym(kind: str) -> TPMT_SYM_DEF:
    if kind == "aes-cfb":
        sym = TPMT_SYM_DEF(algorithm=TPM2_ALG.AES)
        sym.keyBits.aes = 128
        sym.mode.aes = TPM2_ALG.CFB
    elif kind == "xor":
        sym = TPMT_SYM_DEF(algorithm=TPM2_ALG.XOR)
        sym.keyBits.exclusiveOr = TPM2_ALG.SHA256
    else:
        sym = TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL)
    return sym


def _nv(tpm, auth: bytes = b"pin"):
    public = TPM2B_NV_PUBLIC(TPMS_NV_PUBLIC(
        nvIndex=NV_INDEX, nameAlg=TPM2_ALG.SHA256, dataSize=32,
        attributes=TPMA_NV.AUTHWRITE | TPMA_NV.AUTHREAD | TPMA_NV.NO_DA))
    handle = tpm.nv_define_space(auth, public, ESYS_TR.OWNER)
    tpm.tr_set_auth(handle, auth)
    return handle


def _salt_key(tpm, kind: str):
    template = "rsa2048:aes128cfb" if kind == "rsa" else "ecc256:aes128cfb"
    handle, _, _, _, _ = tpm.create_primary(None, TPM2B_PUBLIC.parse(
        template, objectAttributes=DECRYPT_KEY), ESYS_TR.OWNER)
    return handle


CASES = {
    "unbound-unsalted-plain": ("none", None, False),
    "bound-unsalted-aes": ("aes-cfb", None, True),
    "unbound-salted-rsa-aes": ("aes-cfb", "rsa", False),
    "unbound-salted-ecc-xor": ("xor", "ecc", False),
    "bound-salted-ecc-aes": ("aes-cfb", "ecc", True),
}
# What each session flavour uses: the symmetric cipher for parameter encryption and the
# salt key (RSA-OAEP or ECDH, Part 1 §19.6.13) under a restricted AES-CFB storage key.
_SYM_NEEDS = {"aes-cfb": ("alg:aes", "alg:cfb", "aes:128"), "xor": ("alg:xor",), "none": ()}
_SALT_NEEDS = {"rsa": ("alg:rsa", "rsa:2048", "alg:oaep", "alg:aes", "alg:cfb", "aes:128"),
               "ecc": ("alg:ecc", "curve:nist_p256", "alg:ecdh", "alg:aes", "alg:cfb",
                       "aes:128"),
               None: ()}
needs = pytest.mark.needs
NV_INDEX_NEEDS = needs("hierarchy:owner", "cc:TPM2_NV_DefineSpace", "cc:TPM2_NV_Write",
                       "cc:TPM2_NV_Read", "alg:sha256")


def _case_params():
    return [pytest.param(name, id=name, marks=needs(*_SYM_NEEDS[CASES[name][0]],
                                                    *_SALT_NEEDS[CASES[name][1]]))
            for name in sorted(CASES)]


@pytest.mark.spec("TPM 2.0 Part 3 §11.1 StartAuthSession; Part 1 §19.6 HMAC, §21 parameter "
                  "encryption (AES-CFB, XOR)")
@pytest.mark.requirement(*REQ)
@pytest.mark.verifies("StartAuthSession", "NV_Write", "NV_Read")
@pytest.mark.parametrize("case", _case_params())
@NV_INDEX_NEEDS
def test_hmac_session_with_parameter_encryption(tpm, case):
    sym, salt, bound = CASES[case]
    nv = _nv(tpm)
    tpm_key = _salt_key(tpm, salt) if salt else ESYS_TR.NONE
    s = tpm.start_auth_session(tpm_key, nv if bound else ESYS_TR.NONE, TPM2_SE.HMAC,
                               _sym(sym), TPM2_ALG.SHA256)
    attrs = TPMA_SESSION.CONTINUESESSION
    if sym != "none":
        attrs |= TPMA_SESSION.DECRYPT | TPMA_SESSION.ENCRYPT
    tpm.trsess_set_attributes(s, attrs)
    data = bytes(range(32))
    tpm.nv_write(nv, data, 0, nv, session1=s)
    # Read back in the clear (a password session): the chip decrypted the encrypted
    # parameter to exactly what software sent (Part 1 §21.2).
    assert bytes(tpm.nv_read(nv, 32, 0, nv)) == data
    other = bytes(range(32, 64))
    tpm.nv_write(nv, other, 0, nv)
    # Read through the session: software decrypts the chip's encrypted response.
    assert bytes(tpm.nv_read(nv, 32, 0, nv, session1=s)) == other


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 1 §19.6.17: an HMAC computed with the wrong authValue is "
                  "TPM_RC_BAD_AUTH on a noDA index")
@pytest.mark.requirement("IEC62443-4-2:CR 1.5", *REQ)
@NV_INDEX_NEEDS
def test_hmac_session_wrong_auth(tpm, expect_rc):
    nv = _nv(tpm)
    s = tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.HMAC, _sym("none"),
                               TPM2_ALG.SHA256)
    tpm.tr_set_auth(nv, b"wrong")
    with expect_rc(0x9A2):  # TPM_RC_BAD_AUTH (session 1)
        tpm.nv_write(nv, b"x", 0, nv, session1=s)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §11.1 StartAuthSession with an undefined session type is "
                  "TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
def test_start_auth_session_bad_type(raw):
    import struct
    # tpmKey=TPM_RH_NULL, bind=TPM_RH_NULL, nonceCaller(16), encryptedSalt(0), sessionType=0x05
    body = struct.pack(">IIH", 0x40000007, 0x40000007, 16) + bytes(16) + struct.pack(
        ">HBHH", 0, 0x05, TPM2_ALG.NULL, TPM2_ALG.SHA256)
    rc, _ = raw(0x176, body)
    assert rc == 0x084 + 0x340, hex(rc)  # TPM_RC_VALUE (parameter 3)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §11.1 StartAuthSession: a nonceCaller under 16 bytes is "
                  "TPM_RC_SIZE")
@pytest.mark.requirement(*REQ)
def test_start_auth_session_short_nonce(raw):
    import struct
    body = struct.pack(">IIH", 0x40000007, 0x40000007, 8) + bytes(8) + struct.pack(
        ">HBHH", 0, 0x00, TPM2_ALG.NULL, TPM2_ALG.SHA256)
    rc, _ = raw(0x176, body)
    assert rc == 0x095 + 0x140, hex(rc)  # TPM_RC_SIZE (parameter 1)
