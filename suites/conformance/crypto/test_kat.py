"""Known-answer tests against NIST CAVP vectors (cryptography-vectors):
SHA-2 through TPM2_Hash and sequences (Part 3 §15.4, §17), AES-CFB128 through
TPM2_EncryptDecrypt/EncryptDecrypt2 with keys loaded by TPM2_LoadExternal
(§15.2, §15.3, §12.3), ECDSA and RSA SigVer through TPM2_VerifySignature
(§20.1): good signatures accepted, bad ones rejected with TPM_RC_SIGNATURE.

A representative subset keeps the run fast: every n-th vector of each file.
"""

import hashlib

import pytest
from tpm2_pytss import TSS2_Exception
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG
from tpm2_pytss.types import (
    TPM2B_PUBLIC, TPM2B_SENSITIVE, TPMT_SENSITIVE, TPMT_SIGNATURE,
)

from harness.reference import cavp

pytestmark = [pytest.mark.conformance, pytest.mark.kat]
REQ = ("IEC62443-4-2:CR 4.3", "FIPS140-3:approved-algorithms")
TPM_RC_SIGNATURE_P2 = 0x2DB
HASHES = {"SHA1": ("sha1", TPM2_ALG.SHA1, "hashes/SHA1/SHA1ShortMsg.rsp"),
          "SHA256": ("sha256", TPM2_ALG.SHA256, "hashes/SHA2/SHA256ShortMsg.rsp"),
          "SHA384": ("sha384", TPM2_ALG.SHA384, "hashes/SHA2/SHA384ShortMsg.rsp"),
          "SHA512": ("sha512", TPM2_ALG.SHA512, "hashes/SHA2/SHA512ShortMsg.rsp")}
SEQUENCE = ("cc:TPM2_HashSequenceStart", "cc:TPM2_SequenceUpdate", "cc:TPM2_SequenceComplete")
needs = pytest.mark.needs
verifies = pytest.mark.verifies


def _sha_vectors(name: str, step: int) -> list[dict]:
    recs = [r for r in cavp.load(HASHES[name][2]) if "MD" in r]
    return recs[::step]


@pytest.mark.spec("TPM 2.0 Part 3 §15.4 TPM2_Hash, §17.3-§17.5 hash sequences")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_Hash", *SEQUENCE)
@verifies("Hash", "HashSequenceStart", "SequenceUpdate", "SequenceComplete")
@pytest.mark.parametrize("name", [pytest.param(n, marks=needs(f"alg:{HASHES[n][0]}"))
                                  for n in HASHES])
def test_sha_short_messages(tpm, name):
    alg = HASHES[name][1]
    vectors = _sha_vectors(name, 8)
    assert len(vectors) >= 8
    for rec in vectors:
        msg = bytes.fromhex(rec["Msg"]) if int(rec["Len"]) else b""
        digest, _ = tpm.hash(msg, alg, ESYS_TR.NULL)
        assert bytes(digest).hex() == rec["MD"], f"Len={rec['Len']}"
    rec = vectors[-1]
    msg = bytes.fromhex(rec["Msg"])
    seq = tpm.hash_sequence_start(b"", alg)
    tpm.sequence_update(seq, msg[: len(msg) // 2])
    digest, _ = tpm.sequence_complete(seq, msg[len(msg) // 2:], ESYS_TR.NULL)
    assert bytes(digest).hex() == rec["MD"]


@pytest.mark.spec("TPM 2.0 Part 3 §17 hash sequences over a CAVP long message, in blocks of "
                  "the chip's TPM_PT_INPUT_BUFFER")
@pytest.mark.requirement(*REQ)
@needs("alg:sha256", *SEQUENCE, "pt:input_buffer>=1")
@verifies("HashSequenceStart", "SequenceUpdate", "SequenceComplete")
def test_sha256_long_message_by_sequence(tpm, caps):
    rec = max((r for r in cavp.load("hashes/SHA2/SHA256LongMsg.rsp") if "MD" in r),
              key=lambda r: int(r["Len"]))
    msg = bytes.fromhex(rec["Msg"])
    block = caps.input_buffer  # the largest TPM2B_MAX_BUFFER the chip takes (Part 2 §10.4.8)
    assert len(msg) > block, "the long message fits one block: no sequence would be tested"
    seq = tpm.hash_sequence_start(b"", TPM2_ALG.SHA256)
    for i in range(0, len(msg), block):
        tpm.sequence_update(seq, msg[i:i + block])
    digest, _ = tpm.sequence_complete(seq, b"", ESYS_TR.NULL)
    assert bytes(digest).hex() == rec["MD"]


def _aes_key(tpm, key: bytes):
    bits = len(key) * 8
    public = TPM2B_PUBLIC.parse(f"aes{bits}cfb", objectAttributes="userwithauth|decrypt|sign")
    return tpm.load_external(public, _sym_sensitive(public, key), ESYS_TR.NULL)


def _sym_sensitive(public: TPM2B_PUBLIC, key: bytes) -> TPM2B_SENSITIVE:
    """The sensitive area of a symmetric key; unique = H(seedValue || key) (Part 1 §27.2)."""
    seed = bytes(range(32))
    sensitive = TPM2B_SENSITIVE(TPMT_SENSITIVE(sensitiveType=TPM2_ALG.SYMCIPHER))
    sensitive.sensitiveArea.sensitive.sym = key
    sensitive.sensitiveArea.seedValue = seed
    public.publicArea.unique.sym = hashlib.sha256(seed + key).digest()
    return sensitive


def _aes_vectors(size: int) -> list[tuple[str, dict]]:
    out = []
    for kind in ("MMT", "GFSbox"):
        recs = cavp.load(f"ciphers/AES/CFB/CFB128{kind}{size}.rsp")
        out += [(f"{kind}{size}-{r['section']}-{r['COUNT']}", r) for r in recs[::3]]
    return out


def _cipher_params():
    """(command, AES key size) pairs, each needing its command and key size."""
    return [pytest.param(cmd, size, marks=needs(f"cc:TPM2_{cmd}", f"aes:{size}"),
                         id=f"{cmd}-aes{size}")
            for cmd in ("EncryptDecrypt", "EncryptDecrypt2") for size in (128, 256)]


def _cipher(tpm, cmd: str, key, decrypt: bool, iv: bytes, data: bytes) -> bytes:
    if cmd == "EncryptDecrypt2":
        out, _ = tpm.encrypt_decrypt_2(key, decrypt, TPM2_ALG.CFB, iv, data)
    else:
        out, _ = tpm.encrypt_decrypt(key, decrypt, TPM2_ALG.CFB, iv, data)
    return bytes(out)


@pytest.mark.spec("TPM 2.0 Part 3 §15.2 TPM2_EncryptDecrypt, §15.3 EncryptDecrypt2, "
                  "§12.3 LoadExternal")
@pytest.mark.requirement("IEC62443-4-2:CR 4.1", *REQ)
@needs("alg:aes", "alg:cfb", "cc:TPM2_LoadExternal")
@verifies("EncryptDecrypt", "EncryptDecrypt2", "LoadExternal")
@pytest.mark.parametrize("cmd,size", _cipher_params())
def test_aes_cfb128_vectors(tpm, cmd, size):
    vectors = _aes_vectors(size)
    assert len(vectors) >= 4
    for vid, rec in vectors:
        key = _aes_key(tpm, bytes.fromhex(rec["KEY"]))
        iv, pt, ct = (bytes.fromhex(rec[k]) for k in ("IV", "PLAINTEXT", "CIPHERTEXT"))
        decrypt = rec["section"] == "DECRYPT"
        data, expected = (ct, pt) if decrypt else (pt, ct)
        assert _cipher(tpm, cmd, key, decrypt, iv, data) == expected, vid
        tpm.flush_context(key)


# CAVP SigVer sections for every NIST prime curve a TPM may implement (Part 2 §6.4),
# each with a hash a TPM has; each runs where the chip lists the curve and the hash.
ECDSA_SECTIONS = {"P-192,SHA-256": (192, "sha256"), "P-224,SHA-256": (224, "sha256"),
                  "P-256,SHA-256": (256, "sha256"), "P-384,SHA-384": (384, "sha384"),
                  "P-521,SHA-512": (521, "sha512")}


def _ecdsa_vectors(section: str) -> list[tuple[str, dict]]:
    recs = [r for r in cavp.load("asymmetric/ECDSA/FIPS_186-3/SigVer.rsp")
            if r["section"] == section]
    return [(f"{section}-{i}", r) for i, r in enumerate(recs[:8])]


def _verify(tpm, handle, digest: bytes, signature: TPMT_SIGNATURE) -> int:
    try:
        tpm.verify_signature(handle, digest, signature)
        return 0
    except TSS2_Exception as exc:
        return int(exc.rc)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §20.1 TPM2_VerifySignature (ECDSA, CAVP SigVer)")
@pytest.mark.requirement("IEC62443-4-2:CR 1.9", *REQ)
@needs("alg:ecc", "alg:ecdsa", "cc:TPM2_VerifySignature", "cc:TPM2_LoadExternal")
@verifies("VerifySignature", "LoadExternal")
@pytest.mark.parametrize("section", [
    pytest.param(section, marks=needs(f"curve:nist_p{bits}", f"alg:{hname}"), id=section)
    for section, (bits, hname) in ECDSA_SECTIONS.items()])
def test_ecdsa_sigver_vectors(tpm, section):
    bits, hname = ECDSA_SECTIONS[section]
    vectors = _ecdsa_vectors(section)
    assert any(r["Result"].startswith("P") for _, r in vectors)
    assert any(r["Result"].startswith("F") for _, r in vectors)
    size = (bits + 7) // 8
    for vid, rec in vectors:
        public = TPM2B_PUBLIC.parse(f"ecc{bits}:ecdsa-{hname}:null",
                                    objectAttributes="userwithauth|sign")
        public.publicArea.unique.ecc.x = int(rec["Qx"], 16).to_bytes(size, "big")
        public.publicArea.unique.ecc.y = int(rec["Qy"], 16).to_bytes(size, "big")
        try:
            handle = tpm.load_external(public, None, ESYS_TR.NULL)
        except TSS2_Exception as exc:
            # A vector whose public key is off the curve must be refused at load.
            assert rec["Result"].startswith("F") and int(exc.rc) == 0x0A7 + 0x140 + 0x100, vid
            continue
        sig = TPMT_SIGNATURE(sigAlg=TPM2_ALG.ECDSA)
        sig.signature.ecdsa.hash = HASHES[hname.upper()][1]
        sig.signature.ecdsa.signatureR = int(rec["R"], 16).to_bytes(size, "big")
        sig.signature.ecdsa.signatureS = int(rec["S"], 16).to_bytes(size, "big")
        digest = hashlib.new(hname, bytes.fromhex(rec["Msg"])).digest()
        rc = _verify(tpm, handle, digest, sig)
        if rec["Result"].startswith("P"):
            assert rc == 0, f"{vid}: good signature rejected ({rc:#x})"
        else:
            assert rc == TPM_RC_SIGNATURE_P2, f"{vid}: bad signature answered {rc:#x}"
        tpm.flush_context(handle)


def _rsa_vectors() -> list[dict]:
    out, n = [], None
    for rec in cavp.load("asymmetric/RSA/FIPS_186-2/SigVer15_186-3.rsp"):
        n = rec.get("n", n)
        # e = 65537 is the exponent every TPM must support (Part 2 §12.2.3.5).
        if (rec.get("mod") == "2048" and rec.get("SHAAlg") == "SHA256" and "S" in rec
                and int(rec["e"], 16) == 65537):
            out.append({**rec, "n": n})
    return out


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §20.1 TPM2_VerifySignature (RSASSA-PKCS1-v1_5, CAVP SigVer15)")
@pytest.mark.requirement("IEC62443-4-2:CR 1.9", *REQ)
@needs("alg:rsa", "rsa:2048", "alg:rsassa", "alg:sha256", "cc:TPM2_VerifySignature",
       "cc:TPM2_LoadExternal")
@verifies("VerifySignature", "LoadExternal")
def test_rsa_pkcs1_sigver_vectors(tpm):
    vectors = _rsa_vectors()
    assert {r["Result"][0] for r in vectors} == {"P", "F"}
    for i, rec in enumerate(vectors):
        public = TPM2B_PUBLIC.parse("rsa2048:rsassa-sha256:null", objectAttributes="userwithauth|sign")
        public.publicArea.unique.rsa = bytes.fromhex(rec["n"])
        public.publicArea.parameters.rsaDetail.exponent = 0  # 0 means 65537
        handle = tpm.load_external(public, None, ESYS_TR.NULL)
        sig = TPMT_SIGNATURE(sigAlg=TPM2_ALG.RSASSA)
        sig.signature.rsassa.hash = TPM2_ALG.SHA256
        sig.signature.rsassa.sig = bytes.fromhex(rec["S"])
        digest = hashlib.sha256(bytes.fromhex(rec["Msg"])).digest()
        rc = _verify(tpm, handle, digest, sig)
        if rec["Result"].startswith("P"):
            assert rc == 0, f"vector {i}: good signature rejected ({rc:#x})"
        else:
            assert rc == TPM_RC_SIGNATURE_P2, f"vector {i}: bad signature answered {rc:#x}"
        tpm.flush_context(handle)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §15.2/§15.3 EncryptDecrypt(2): a wrong-size IV is TPM_RC_SIZE")
@pytest.mark.requirement(*REQ)
@needs("alg:aes", "alg:cfb", "aes:128", "cc:TPM2_LoadExternal")
@pytest.mark.parametrize("cmd", [pytest.param("EncryptDecrypt", marks=needs("cc:TPM2_EncryptDecrypt")),
                                 pytest.param("EncryptDecrypt2",
                                              marks=needs("cc:TPM2_EncryptDecrypt2"))])
def test_encrypt_decrypt_bad_iv_size(tpm, expect_rc, cmd):
    key = _aes_key(tpm, bytes(16))
    # TPM_RC_SIZE on ivIn: parameter 3 of EncryptDecrypt, parameter 4 of EncryptDecrypt2.
    with expect_rc(0x095 + (0x340 if cmd == "EncryptDecrypt" else 0x440)):
        _cipher(tpm, cmd, key, False, b"\x00" * 7, b"data")


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §12.3 TPM2_LoadExternal: a private key in the owner "
                  "hierarchy is TPM_RC_HIERARCHY")
@pytest.mark.requirement(*REQ)
@needs("alg:aes", "alg:cfb", "aes:128", "cc:TPM2_LoadExternal")
def test_load_external_private_outside_null_hierarchy(tpm, expect_rc):
    public = TPM2B_PUBLIC.parse("aes128cfb", objectAttributes="userwithauth|decrypt|sign")
    sensitive = _sym_sensitive(public, bytes(16))
    with expect_rc(0x085 + 0x340):  # TPM_RC_HIERARCHY (parameter 3)
        tpm.load_external(public, sensitive, ESYS_TR.OWNER)
