"""Object life cycle: Duplicate/Import/Rewrap (TPM 2.0 Part 3 §13), credential
activation (§12.5, §12.6) against a software MakeCredential, ObjectChangeAuth
(§12.8), Unseal (§12.7), EvictControl (§28.5), ContextSave/ContextLoad (§28.2,
§28.3), EC_Ephemeral/ZGen_2Phase/Commit (§19.3, §14.7, §19.2)."""

import hashlib
import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from tpm2_pytss.constants import (
    ESYS_TR, TPM2_ALG, TPM2_CC, TPM2_ECC, TPM2_RH, TPM2_SE, TPM2_ST, TPMA_OBJECT,
)
from tpm2_pytss.types import (
    TPM2B_ECC_POINT, TPM2B_ENCRYPTED_SECRET, TPM2B_ID_OBJECT, TPM2B_PUBLIC, TPM2B_SENSITIVE,
    TPM2B_SENSITIVE_CREATE, TPMT_SENSITIVE, TPMS_ECC_POINT, TPMT_SIG_SCHEME, TPMT_SYM_DEF, TPMT_SYM_DEF_OBJECT,
    TPMT_TK_HASHCHECK,
)

from harness.reference.credential import make_credential, wrap_credential
from harness.reference.hashes import TPM_ALG_SHA256
from harness.reference.names import object_name
from harness.reference.policy import PolicyDigest
from harness.tpm.names import rc_name
from harness.tpm.software import public_key, tpm_public_from_key

pytestmark = [pytest.mark.conformance]
REQ = ("IEC62443-4-2:CR 4.1", "IEC62443-4-2:CR 1.5", "FIPS140-3:approved-algorithms")
STORAGE = "userwithauth|restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin"
SIGN = "userwithauth|sign|fixedtpm|fixedparent|sensitivedataorigin"
MOVABLE_SIGN = "userwithauth|sign|sensitivedataorigin"
OWNER, ENDORSEMENT = "hierarchy:owner", "hierarchy:endorsement"
P256 = ("alg:ecc", "curve:nist_p256", "alg:ecdsa")
RSA2048 = ("alg:rsa", "rsa:2048")
STORAGE_SYM = ("alg:aes", "alg:cfb", "aes:128")
DUP = ("cc:TPM2_Duplicate", "cc:TPM2_PolicyCommandCode")
needs = pytest.mark.needs
verifies = pytest.mark.verifies
# P-256 (SEC 2 §2.4.2): field prime and b, for a point computed in software.
P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


def _scheme():
    s = TPMT_SIG_SCHEME(scheme=TPM2_ALG.ECDSA)
    s.details.any.hashAlg = TPM2_ALG.SHA256
    return s


def _ticket():
    return TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL)


def _verify_digest(tpm2b_public, digest: bytes, sig) -> None:
    """Verify an ECDSA TPMT_SIGNATURE over a SHA-256 digest in software."""
    der_sig = encode_dss_signature(int.from_bytes(bytes(sig.signature.ecdsa.signatureR), "big"),
                                   int.from_bytes(bytes(sig.signature.ecdsa.signatureS), "big"))
    public_key(tpm2b_public).verify(der_sig, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def _policy_session(tpm, cc):
    s = tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.POLICY,
                               TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
    tpm.policy_command_code(s, cc)
    return s


def _movable(tpm, parent):
    public = TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256:null", objectAttributes=MOVABLE_SIGN)
    public.publicArea.authPolicy = PolicyDigest(TPM_ALG_SHA256).command_code(
        TPM2_CC.Duplicate).value
    priv, pub, _, _, _ = tpm.create(parent, None, public)
    return tpm.load(parent, priv, pub), pub


def _null_sym():
    return TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.NULL)


@pytest.mark.spec("TPM 2.0 Part 3 §13.1 Duplicate, §13.2 Rewrap, §13.3 Import")
@pytest.mark.requirement(*REQ)
@needs(OWNER, *P256, *RSA2048, *STORAGE_SYM, *DUP, "aes:256", "cc:TPM2_Rewrap", "cc:TPM2_Import")
@verifies("Duplicate", "Rewrap", "Import")
def test_duplicate_rewrap_import(tpm, primary):
    parent, _ = primary("ecc256:aes128cfb", STORAGE)
    parent_b, _ = primary("rsa2048:aes128cfb", STORAGE)
    obj, obj_pub = _movable(tpm, parent)
    s = _policy_session(tpm, TPM2_CC.Duplicate)
    _, dup, seed = tpm.duplicate(obj, parent_b, b"", _null_sym(), session1=s)
    tpm.flush_context(obj)  # the reference TPM holds 3 objects
    tpm.flush_context(parent)
    parent_c, _ = primary("ecc256:aes256cfb", STORAGE)
    name = object_name(TPM_ALG_SHA256, obj_pub.publicArea.marshal())
    dup_c, seed_c = tpm.rewrap(parent_b, parent_c, dup, name, seed)
    for new_parent, blob, sd in ((parent_b, dup, seed), (parent_c, dup_c, seed_c)):
        priv = tpm.import_(new_parent, b"", obj_pub, blob, sd, _null_sym())
        moved = tpm.load(new_parent, priv, obj_pub)
        sig = tpm.sign(moved, bytes(32), _scheme(), _ticket())
        tpm.flush_context(moved)
        _verify_digest(obj_pub, bytes(32), sig)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §13.1 TPM2_Duplicate of a fixedParent object is "
                  "TPM_RC_ATTRIBUTES")
@pytest.mark.requirement(*REQ)
@needs(OWNER, *P256, *STORAGE_SYM, *DUP)
def test_duplicate_fixed_parent_rejected(tpm, primary, expect_rc):
    parent, _ = primary("ecc256:aes128cfb", STORAGE)
    public = TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256:null", objectAttributes=SIGN)
    public.publicArea.authPolicy = PolicyDigest(TPM_ALG_SHA256).command_code(
        TPM2_CC.Duplicate).value
    priv, pub, _, _, _ = tpm.create(parent, None, public)
    obj = tpm.load(parent, priv, pub)
    s = _policy_session(tpm, TPM2_CC.Duplicate)
    with expect_rc(0x082 + 0x100):  # TPM_RC_ATTRIBUTES (handle 1)
        tpm.duplicate(obj, parent, b"", _null_sym(), session1=s)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §13.3 TPM2_Import of a blob with another public area is "
                  "TPM_RC_INTEGRITY")
@pytest.mark.requirement(*REQ)
@needs(OWNER, *P256, *RSA2048, *STORAGE_SYM, *DUP, "cc:TPM2_Import")
def test_import_with_wrong_public_rejected(tpm, primary, expect_rc):
    parent, _ = primary("ecc256:aes128cfb", STORAGE)
    parent_b, _ = primary("rsa2048:aes128cfb", STORAGE)
    obj, obj_pub = _movable(tpm, parent)
    s = _policy_session(tpm, TPM2_CC.Duplicate)
    _, dup, seed = tpm.duplicate(obj, parent_b, b"", _null_sym(), session1=s)
    tpm.flush_context(obj)
    public = TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256:null", objectAttributes=MOVABLE_SIGN)
    _, other_pub, _, _, _ = tpm.create(parent, None, public)
    with expect_rc(0x09F + 0x340):  # TPM_RC_INTEGRITY (parameter 3: duplicate)
        tpm.import_(parent_b, b"", other_pub, dup, seed, _null_sym())


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §13.2 TPM2_Rewrap to a non-storage parent is TPM_RC_TYPE")
@pytest.mark.requirement(*REQ)
@needs(OWNER, *P256, *RSA2048, *STORAGE_SYM, *DUP, "cc:TPM2_Rewrap")
def test_rewrap_to_signing_key_rejected(tpm, primary, expect_rc):
    parent, _ = primary("ecc256:aes128cfb", STORAGE)
    parent_b, _ = primary("rsa2048:aes128cfb", STORAGE)
    obj, obj_pub = _movable(tpm, parent)
    s = _policy_session(tpm, TPM2_CC.Duplicate)
    _, dup, seed = tpm.duplicate(obj, parent_b, b"", _null_sym(), session1=s)
    tpm.flush_context(obj)
    signer, _ = primary("ecc256:ecdsa-sha256:null", SIGN)
    name = object_name(TPM_ALG_SHA256, obj_pub.publicArea.marshal())
    with expect_rc(0x08A + 0x200):  # TPM_RC_TYPE (handle 2)
        tpm.rewrap(parent_b, signer, dup, name, seed)


def _ek(primary):
    return primary("rsa2048:aes128cfb", STORAGE, ESYS_TR.ENDORSEMENT)


@pytest.mark.spec("TPM 2.0 Part 3 §12.5 ActivateCredential of a software MakeCredential "
                  "(Part 1 §24), §12.6 MakeCredential")
@pytest.mark.requirement("IEC62443-4-2:CR 1.9", "IEC62443-4-2:EDR 3.14", *REQ)
@needs(OWNER, ENDORSEMENT, *P256, *RSA2048, *STORAGE_SYM, "cc:TPM2_ActivateCredential", "cc:TPM2_MakeCredential")
@verifies("ActivateCredential")
def test_credential_activation(tpm, primary):
    ek, ek_pub = _ek(primary)
    ak, ak_pub = primary("ecc256:ecdsa-sha256:null", SIGN)
    ak_name = object_name(TPM_ALG_SHA256, ak_pub.publicArea.marshal())
    blob = make_credential(public_key(ek_pub), TPM_ALG_SHA256, ak_name, b"software secret")
    got = tpm.activate_credential(ak, ek, TPM2B_ID_OBJECT(blob.credential_blob),
                                  TPM2B_ENCRYPTED_SECRET(blob.encrypted_secret))
    assert bytes(got) == b"software secret"
    cred, secret = tpm.make_credential(ek, b"chip secret", ak_name)
    assert bytes(tpm.activate_credential(ak, ek, cred, secret)) == b"chip secret"


@pytest.mark.spec("TPM 2.0 Part 3 §12.6 MakeCredential to a software key: the seed unwrapped "
                  "in software (OAEP, label IDENTITY) rebuilds the chip's credential blob "
                  "(Part 1 §24)")
@pytest.mark.requirement("IEC62443-4-2:CR 1.9", *REQ)
@needs(*RSA2048, "alg:oaep", "alg:aes", "alg:cfb", "aes:128", "cc:TPM2_MakeCredential",
       "cc:TPM2_LoadExternal")
@verifies("MakeCredential")
def test_make_credential_matches_software(tpm):
    private = rsa.generate_private_key(65537, 2048)
    public = tpm_public_from_key(private.public_key(), TPMA_OBJECT.DECRYPT
                                 | TPMA_OBJECT.RESTRICTED | TPMA_OBJECT.USERWITHAUTH)
    public.publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG.AES
    public.publicArea.parameters.rsaDetail.symmetric.keyBits.aes = 128
    public.publicArea.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG.CFB
    handle = tpm.load_external(public, None, ESYS_TR.NULL)
    name = b"\x00\x0b" + hashlib.sha256(b"some key").digest()
    cred, secret = tpm.make_credential(handle, b"chip secret", name)
    seed = private.decrypt(bytes(secret), padding.OAEP(
        padding.MGF1(hashes.SHA256()), hashes.SHA256(), b"IDENTITY\x00"))
    assert bytes(cred) == wrap_credential(TPM_ALG_SHA256, seed, name, b"chip secret"), \
        "the chip's credential blob differs from the one rebuilt from its seed"


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §12.5 ActivateCredential for another key's name is "
                  "TPM_RC_INTEGRITY")
@pytest.mark.requirement("IEC62443-4-2:CR 1.9", *REQ)
@needs(OWNER, ENDORSEMENT, *P256, *RSA2048, *STORAGE_SYM, "cc:TPM2_ActivateCredential")
def test_credential_for_other_name_rejected(tpm, primary, expect_rc):
    ek, ek_pub = _ek(primary)
    ak, _ = primary("ecc256:ecdsa-sha256:null", SIGN)
    blob = make_credential(public_key(ek_pub), TPM_ALG_SHA256, b"\x00\x0b" + bytes(32), b"s")
    with expect_rc(0x09F + 0x140):  # TPM_RC_INTEGRITY (parameter 1)
        tpm.activate_credential(ak, ek, TPM2B_ID_OBJECT(blob.credential_blob),
                                TPM2B_ENCRYPTED_SECRET(blob.encrypted_secret))


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §12.6 MakeCredential with a signing key is TPM_RC_TYPE")
@pytest.mark.requirement(*REQ)
@needs(OWNER, *P256, "cc:TPM2_MakeCredential")
def test_make_credential_with_signing_key(tpm, primary, expect_rc):
    signer, _ = primary("ecc256:ecdsa-sha256:null", SIGN)
    with expect_rc(0x08A + 0x100):  # TPM_RC_TYPE (handle 1): not a decryption key
        tpm.make_credential(signer, b"x", b"\x00\x0b" + bytes(32))


@pytest.mark.spec("TPM 2.0 Part 3 §12.8 TPM2_ObjectChangeAuth, §12.7 TPM2_Unseal")
@pytest.mark.requirement("IEC62443-4-2:CR 1.5", *REQ)
@needs(OWNER, *P256, *STORAGE_SYM, "alg:keyedhash", "cc:TPM2_ObjectChangeAuth")
@verifies("Unseal", "ObjectChangeAuth")
def test_object_change_auth_and_unseal(tpm, primary, expect_rc):
    parent, _ = primary("ecc256:aes128cfb", STORAGE)
    sensitive = TPM2B_SENSITIVE_CREATE()
    sensitive.sensitive.userAuth = b"old"
    sensitive.sensitive.data = b"sealed data"
    public = TPM2B_PUBLIC.parse("keyedhash", objectAttributes="userwithauth|fixedtpm|fixedparent|noda")
    priv, pub, _, _, _ = tpm.create(parent, sensitive, public)
    obj = tpm.load(parent, priv, pub)
    tpm.tr_set_auth(obj, b"old")
    assert bytes(tpm.unseal(obj)) == b"sealed data"
    new_priv = tpm.object_change_auth(obj, parent, b"new")
    obj2 = tpm.load(parent, new_priv, pub)
    tpm.tr_set_auth(obj2, b"new")
    assert bytes(tpm.unseal(obj2)) == b"sealed data"
    tpm.tr_set_auth(obj2, b"old")
    with expect_rc(0x9A2):  # TPM_RC_BAD_AUTH (session 1): noDA object
        tpm.unseal(obj2)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §12.7 TPM2_Unseal of a signing key is TPM_RC_TYPE; "
                  "§12.8 ObjectChangeAuth with the wrong parent is TPM_RC_TYPE")
@pytest.mark.requirement(*REQ)
@needs(OWNER, *P256, *RSA2048, *STORAGE_SYM, "cc:TPM2_ObjectChangeAuth")
def test_unseal_signing_key_and_change_auth_wrong_parent(tpm, primary, expect_rc):
    key, _ = primary("ecc256:ecdsa-sha256:null", SIGN)
    with expect_rc(0x08A + 0x100):  # TPM_RC_TYPE (handle 1)
        tpm.unseal(key)
    tpm.flush_context(key)
    parent, _ = primary("ecc256:aes128cfb", STORAGE)
    other, _ = primary("rsa2048:aes128cfb", STORAGE)
    priv, pub, _, _, _ = tpm.create(parent, None, TPM2B_PUBLIC.parse(
        "ecc256:ecdsa-sha256:null", objectAttributes=SIGN))
    obj = tpm.load(parent, priv, pub)
    with expect_rc(0x08A + 0x200):  # TPM_RC_TYPE (handle 2): not the parent
        tpm.object_change_auth(obj, other, b"x")


@pytest.mark.spec("TPM 2.0 Part 3 §28.5 TPM2_EvictControl (persist and evict)")
@pytest.mark.requirement("IEC62443-4-2:CR 7.4", *REQ)
@needs(OWNER, *P256, "cc:TPM2_EvictControl", "pt:hr_persistent_avail>=1")
@verifies("EvictControl")
def test_evict_control(tpm, primary, raw):
    key, pub = primary("ecc256:ecdsa-sha256:null", SIGN)
    persistent = tpm.evict_control(ESYS_TR.OWNER, key, 0x817F0001)
    out_pub, _, _ = tpm.read_public(persistent)
    assert out_pub.marshal() == pub.marshal()
    tpm.evict_control(ESYS_TR.OWNER, persistent, 0x817F0001)
    rc, _ = raw(0x173, struct.pack(">I", 0x817F0001))
    assert rc == 0x18B, hex(rc)  # TPM_RC_HANDLE (handle 1): gone


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §28.5 TPM2_EvictControl: owner persisting into the platform "
                  "range is TPM_RC_RANGE")
@pytest.mark.requirement(*REQ)
@needs(OWNER, *P256, "cc:TPM2_EvictControl")
def test_evict_control_platform_range(tpm, primary, expect_rc):
    key, _ = primary("ecc256:ecdsa-sha256:null", SIGN)
    with expect_rc(0x08D + 0x140):  # TPM_RC_RANGE (parameter 1)
        tpm.evict_control(ESYS_TR.OWNER, key, 0x81800001)


@pytest.mark.spec("TPM 2.0 Part 3 §28.2 ContextSave, §28.3 ContextLoad, §28.4 FlushContext")
@pytest.mark.requirement("IEC62443-4-2:CR 7.2", *REQ)
@needs(OWNER, *P256, "cc:TPM2_ContextSave", "cc:TPM2_ContextLoad")
@verifies("ContextSave", "ContextLoad")
def test_context_save_load(tpm, primary):
    key, pub = primary("ecc256:ecdsa-sha256:null", SIGN)
    ctx = tpm.context_save(key)
    tpm.flush_context(key)
    again = tpm.context_load(ctx)
    out_pub, _, _ = tpm.read_public(again)
    assert out_pub.marshal() == pub.marshal()
    sig = tpm.sign(again, b"\x5a" * 32, _scheme(), _ticket())
    _verify_digest(pub, b"\x5a" * 32, sig)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §28.3 TPM2_ContextLoad of a tampered blob is TPM_RC_INTEGRITY")
@pytest.mark.requirement("IEC62443-4-2:CR 3.4", *REQ)
@needs(OWNER, *P256, "cc:TPM2_ContextSave", "cc:TPM2_ContextLoad")
def test_context_load_tampered(tpm, primary, raw, chip):
    # Raw bytes: ESAPI wraps the TPM's context blob in its own metadata.
    key, _ = primary("ecc256:ecdsa-sha256:null", SIGN)
    rc, response = raw(0x162, struct.pack(">I", tpm.tr_get_tpm_handle(key)))
    assert rc == 0
    context = bytearray(response[10:])
    # TPMS_CONTEXT (Part 2 §14.5): sequence(8) savedHandle(4) hierarchy(4) contextBlob(2 + n).
    (blob_size,) = struct.unpack_from(">H", context, 16)
    assert len(context) == 18 + blob_size, "TPMS_CONTEXT size does not match its contextBlob"
    if "context_blob_layout" in chip.reference_behaviours:
        # The reference layout: integrity HMAC (TPM2B), then the encrypted context; flip a
        # byte of the encrypted part, so the HMAC itself is intact (Part 1 §30.3).
        (hmac_size,) = struct.unpack_from(">H", context, 18)
        context[20 + hmac_size + 4] ^= 0x01
    else:
        # The blob's layout is the vendor's (Part 2 §14.4): flip its last byte, which any
        # integrity protection covers.
        context[-1] ^= 0x01
    rc, _ = raw(0x161, bytes(context))
    assert rc == 0x09F + 0x140, f"expected TPM_RC_INTEGRITY (parameter 1), got {rc_name(rc)}"


def _point(pub) -> TPM2B_ECC_POINT:
    n = pub.public_numbers()
    return TPM2B_ECC_POINT(TPMS_ECC_POINT(x=n.x.to_bytes(32, "big"), y=n.y.to_bytes(32, "big")))


def _on_p256(point) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicNumbers(int.from_bytes(bytes(point.point.x), "big"),
                                         int.from_bytes(bytes(point.point.y), "big"),
                                         ec.SECP256R1()).public_key()


@pytest.mark.spec("TPM 2.0 Part 3 §19.3 EC_Ephemeral, §14.7 ZGen_2Phase (ECDH full unified "
                  "model) checked in software")
@pytest.mark.requirement(*REQ)
@needs(OWNER, *P256, "alg:ecdh", "cc:TPM2_EC_Ephemeral", "cc:TPM2_ZGen_2Phase")
@verifies("EC_Ephemeral", "ZGen_2Phase")
def test_zgen_2phase_matches_software(tpm, primary):
    key, pub = primary("ecc256:ecdh-sha256:null",
                       "userwithauth|decrypt|fixedtpm|fixedparent|sensitivedataorigin")
    q_ephemeral, counter = tpm.ec_ephemeral(TPM2_ECC.NIST_P256)
    chip_ephemeral = _on_p256(q_ephemeral)
    peer_static = ec.generate_private_key(ec.SECP256R1())
    peer_eph = ec.generate_private_key(ec.SECP256R1())
    z1, z2 = tpm.zgen_2_phase(key, _point(peer_static.public_key()),
                              _point(peer_eph.public_key()), TPM2_ALG.ECDH, counter)
    assert bytes(z1.point.x) == peer_static.exchange(ec.ECDH(), public_key(pub))
    assert bytes(z2.point.x) == peer_eph.exchange(ec.ECDH(), chip_ephemeral)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §14.7 ZGen_2Phase with an unused counter is TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
@needs(OWNER, *P256, "alg:ecdh", "cc:TPM2_EC_Ephemeral", "cc:TPM2_ZGen_2Phase")
def test_zgen_2phase_bad_counter(tpm, primary, expect_rc):
    key, pub = primary("ecc256:ecdh-sha256:null",
                       "userwithauth|decrypt|fixedtpm|fixedparent|sensitivedataorigin")
    p = _point(ec.generate_private_key(ec.SECP256R1()).public_key())
    _, counter = tpm.ec_ephemeral(TPM2_ECC.NIST_P256)
    with expect_rc(0x084 + 0x440):  # TPM_RC_VALUE (parameter 4: counter)
        tpm.zgen_2_phase(key, p, p, TPM2_ALG.ECDH, (counter + 7) & 0xFFFF)


def _p2_from_s2() -> tuple[bytes, int, int]:
    """An s2 whose x2 = SHA-256(s2) mod p is on P-256, and that point's y2 (Part 3 §19.2)."""
    for i in range(256):
        s2 = b"tpm-hil commit %d" % i
        x2 = int.from_bytes(hashlib.sha256(s2).digest(), "big") % P256_P
        rhs = (pow(x2, 3, P256_P) - 3 * x2 + P256_B) % P256_P
        y2 = pow(rhs, (P256_P + 1) // 4, P256_P)  # p = 3 mod 4
        if y2 * y2 % P256_P == rhs:
            return s2, x2, y2
    raise AssertionError("no s2 gave a point on P-256")  # p ~ 2^-256


@pytest.mark.spec("TPM 2.0 Part 3 §19.2 TPM2_Commit: K = [ds]P2, L = [r]P2, E = [r]P1, checked "
                  "with a key whose ds is known (P1 = P2, so E must equal L)")
@pytest.mark.requirement(*REQ)
@needs(*P256, "alg:ecdaa", "cc:TPM2_Commit", "cc:TPM2_LoadExternal")
@verifies("Commit")
def test_commit(tpm):
    private = ec.generate_private_key(ec.SECP256R1())
    ds = private.private_numbers().private_value
    public = tpm_public_from_key(private.public_key(),
                                 TPMA_OBJECT.SIGN_ENCRYPT | TPMA_OBJECT.USERWITHAUTH)
    public.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG.ECDAA
    public.publicArea.parameters.eccDetail.scheme.details.ecdaa.hashAlg = TPM2_ALG.SHA256
    public.publicArea.parameters.eccDetail.scheme.details.ecdaa.count = 4
    sensitive = TPM2B_SENSITIVE(TPMT_SENSITIVE(sensitiveType=TPM2_ALG.ECC))
    sensitive.sensitiveArea.sensitive.ecc = ds.to_bytes(32, "big")
    key = tpm.load_external(public, sensitive, ESYS_TR.NULL)
    s2, x2, y2 = _p2_from_s2()
    p2 = TPM2B_ECC_POINT(TPMS_ECC_POINT(x=x2.to_bytes(32, "big"), y=y2.to_bytes(32, "big")))
    k, l, e, counter = tpm.commit(key, p2, s2, y2.to_bytes(32, "big"))
    peer = ec.EllipticCurvePublicNumbers(x2, y2, ec.SECP256R1()).public_key()
    assert bytes(k.point.x) == private.exchange(ec.ECDH(), peer), "K is not [ds]P2"
    _on_p256(k), _on_p256(l), _on_p256(e)
    assert (bytes(e.point.x), bytes(e.point.y)) == (bytes(l.point.x), bytes(l.point.y)), \
        "E = [r]P1 differs from L = [r]P2 although P1 = P2"
    _, _, e2, counter2 = tpm.commit(key, p2, s2, y2.to_bytes(32, "big"))
    assert counter2 != counter and bytes(e2.point.x) != bytes(e.point.x), \
        "a second Commit reused the counter or r"


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §19.2 TPM2_Commit with an ECDSA key is TPM_RC_SCHEME")
@pytest.mark.requirement(*REQ)
@needs(OWNER, *P256, "cc:TPM2_Commit")
def test_commit_with_ecdsa_key(tpm, primary, expect_rc):
    key, _ = primary("ecc256:ecdsa-sha256:null", SIGN)
    with expect_rc(0x092 + 0x100):  # TPM_RC_SCHEME (handle 1)
        tpm.commit(key, TPM2B_ECC_POINT(), b"", b"")


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §19.3 TPM2_EC_Ephemeral of an unknown curve is TPM_RC_CURVE")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_EC_Ephemeral")
def test_ec_ephemeral_unknown_curve(raw):
    rc, _ = raw(0x18E, struct.pack(">H", 0x0077))
    assert rc == 0x0A6 + 0x140, hex(rc)  # TPM_RC_CURVE (parameter 1)
