"""Hashing and HMAC: TPM2_Hash (Part 3 §15.4), hash and HMAC sequences
(§17.2-§17.5), TPM2_HMAC (§15.5), checked against hashlib/hmac."""

import hashlib
import hmac

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_RH, TPM2_ST
from tpm2_pytss.types import TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE, TPML_PCR_SELECTION

from suites.functional.pcrs import debug_pcr
from suites.functional.pcrs import handle as pcr_handle

pytestmark = [pytest.mark.conformance]

ALGS = {"sha1": TPM2_ALG.SHA1, "sha256": TPM2_ALG.SHA256, "sha384": TPM2_ALG.SHA384,
        "sha512": TPM2_ALG.SHA512}
# Every hash Part 2 §6.3 defines that hashlib computes; each runs where TPM_CAP_ALGS lists it.
ALL_HASHES = {**ALGS, "sha3_256": TPM2_ALG.SHA3_256, "sha3_384": TPM2_ALG.SHA3_384,
              "sha3_512": TPM2_ALG.SHA3_512, "sm3_256": TPM2_ALG.SM3_256}
HASHLIB = {"sm3_256": "sm3"}
OWNER = "hierarchy:owner"
P256 = ("alg:ecc", "curve:nist_p256", "alg:ecdsa")
SEQUENCE = ("cc:TPM2_HashSequenceStart", "cc:TPM2_SequenceUpdate", "cc:TPM2_SequenceComplete")
needs = pytest.mark.needs
verifies = pytest.mark.verifies
REQ = ("IEC62443-4-2:CR 4.3", "FIPS140-3:approved-algorithms")
TPM_RC_HASH = 0x083
TPM_RC_SIZE = 0x095
RC_P = lambda n: 0x040 | (n << 8)  # noqa: E731
RC_H1 = 0x100


@pytest.mark.spec("TPM 2.0 Part 3 §15.4 TPM2_Hash")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_Hash")
@verifies("Hash")
@pytest.mark.parametrize("alg", [pytest.param(a, marks=needs(f"alg:{a}"))
                                 for a in sorted(ALL_HASHES)
                                 if HASHLIB.get(a, a) in hashlib.algorithms_available])
def test_hash_matches_hashlib_and_ticket(tpm, alg, caps):
    if not caps.owner_enabled:  # the ticket names the owner hierarchy; no auth is needed
        pytest.skip("owner hierarchy disabled (TPM_PT_STARTUP_CLEAR shEnable=0)")
    data = b"tpm-hil conformance " * 20
    digest, ticket = tpm.hash(data, ALL_HASHES[alg], ESYS_TR.OWNER)
    assert bytes(digest) == hashlib.new(HASHLIB.get(alg, alg), data).digest()
    # Data not starting with TPM_GENERATED_VALUE gets a hashcheck ticket (§15.4.1).
    assert ticket.tag == TPM2_ST.HASHCHECK and ticket.hierarchy == TPM2_RH.OWNER
    assert len(bytes(ticket.digest)) > 0


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §15.4 TPM2_Hash: hashAlg TPM_ALG_NULL is TPM_RC_HASH")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_Hash")
def test_hash_null_algorithm_rejected(tpm, expect_rc):
    with expect_rc(TPM_RC_HASH + RC_P(2)):
        tpm.hash(b"x", TPM2_ALG.NULL, ESYS_TR.NULL)


@pytest.mark.spec("TPM 2.0 Part 3 §17.3 HashSequenceStart, §17.4 SequenceUpdate, "
                  "§17.5 SequenceComplete")
@pytest.mark.requirement(*REQ)
@needs("alg:sha256", *SEQUENCE, "pt:input_buffer>=32")
@verifies("HashSequenceStart", "SequenceUpdate", "SequenceComplete")
def test_hash_sequence_over_several_updates(tpm, caps):
    block = caps.input_buffer  # TPM2B_MAX_BUFFER holds at most TPM_PT_INPUT_BUFFER bytes
    chunks = [b"a" * block, b"b" * (block - 24), b"c" * 17]
    seq = tpm.hash_sequence_start(b"", TPM2_ALG.SHA256)
    for chunk in chunks[:-1]:
        tpm.sequence_update(seq, chunk)
    digest, ticket = tpm.sequence_complete(seq, chunks[-1], ESYS_TR.NULL)
    assert bytes(digest) == hashlib.sha256(b"".join(chunks)).digest()
    # TPM_RH_NULL asks for a NULL ticket (Part 3 §17.5; Part 2 §10.7.1).
    assert ticket.tag == TPM2_ST.HASHCHECK and ticket.hierarchy == TPM2_RH.NULL
    assert len(bytes(ticket.digest)) == 0


@pytest.mark.spec("TPM 2.0 Part 3 §17.6 TPM2_EventSequenceComplete")
@pytest.mark.requirement("IEC62443-4-2:CR 3.4", *REQ)
@needs("bank:sha256", *SEQUENCE, "cc:TPM2_EventSequenceComplete", "cc:TPM2_PCR_Reset")
@verifies("EventSequenceComplete", "HashSequenceStart", "SequenceUpdate")
def test_event_sequence_digests_all_banks_and_extends_pcr(tpm, caps):
    """The debug PCR (16 or 23: locality 0 may extend and reset it) is reset before and
    after, so the board's PCRs are as they were."""
    index = debug_pcr(tpm)
    banks = sorted(b for b in caps.banks if caps.banks[b] and b in ALGS)
    sel = TPML_PCR_SELECTION.parse("+".join(f"{b}:{index}" for b in banks))
    data = b"event data " * 50
    tpm.pcr_reset(pcr_handle(index))
    try:
        seq = tpm.hash_sequence_start(b"", TPM2_ALG.NULL)  # event sequence
        tpm.sequence_update(seq, data[:300])
        results = tpm.event_sequence_complete(pcr_handle(index), seq, data[300:])
        names = {int(v): k for k, v in ALGS.items()}
        got = {names[int(d.hashAlg)]: bytes(getattr(d.digest, names[int(d.hashAlg)]))
               for d in results if int(d.hashAlg) in names}
        for bank in banks:  # one digest per active bank (Part 3 §17.7)
            assert got.get(bank) == hashlib.new(bank, data).digest(), f"{bank} event digest"
        for name, value in got.items():
            assert value == hashlib.new(name, data).digest(), f"{name} event digest"
        _, _, after = tpm.pcr_read(sel)
        for i, bank in enumerate(banks):
            size = hashlib.new(bank).digest_size
            expected = hashlib.new(bank, bytes(size) + got[bank]).digest()
            assert bytes(after.digests[i]) == expected, f"PCR {index} {bank} is not H(0 || digest)"
    finally:
        tpm.pcr_reset(pcr_handle(index))


def _hmac_key(tpm, key: bytes):
    public = TPM2B_PUBLIC.parse("hmac:sha256", objectAttributes="userwithauth|sign|fixedtpm|fixedparent")
    sensitive = TPM2B_SENSITIVE_CREATE()
    sensitive.sensitive.data = key
    parent, _, _, _, _ = tpm.create_primary(None, TPM2B_PUBLIC.parse(
        "ecc256:aes128cfb", objectAttributes="userwithauth|restricted|decrypt|fixedtpm|"
        "fixedparent|sensitivedataorigin"), ESYS_TR.OWNER)
    priv, pub, _, _, _ = tpm.create(parent, sensitive, public)
    return tpm.load(parent, priv, pub)


@pytest.mark.spec("TPM 2.0 Part 3 §15.5 TPM2_HMAC, §17.2 TPM2_HMAC_Start")
@pytest.mark.requirement(*REQ)
@needs(OWNER, "alg:ecc", "curve:nist_p256", "alg:aes", "alg:cfb", "alg:hmac", "alg:keyedhash",
       "cc:TPM2_HMAC", "cc:TPM2_HMAC_Start", "cc:TPM2_SequenceUpdate", "cc:TPM2_SequenceComplete")
@verifies("HMAC", "HMAC_Start", "SequenceUpdate", "SequenceComplete")
def test_hmac_and_hmac_sequence_match_software(tpm):
    key = bytes(range(32))
    handle = _hmac_key(tpm, key)
    data = b"message for HMAC " * 40
    expected = hmac.new(key, data, "sha256").digest()
    assert bytes(tpm.hmac(handle, data, TPM2_ALG.SHA256)) == expected
    seq = tpm.hmac_start(handle, b"", TPM2_ALG.SHA256)
    tpm.sequence_update(seq, data[:500])
    digest, _ = tpm.sequence_complete(seq, data[500:], ESYS_TR.NULL)
    assert bytes(digest) == expected


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §15.5 TPM2_HMAC: a non-HMAC key is TPM_RC_TYPE")
@pytest.mark.requirement(*REQ)
@needs(OWNER, *P256, "cc:TPM2_HMAC")
def test_hmac_with_ecc_key_rejected(tpm, primary, expect_rc):
    key, _ = primary("ecc256:ecdsa-sha256:null",
                     "userwithauth|sign|fixedtpm|fixedparent|sensitivedataorigin")
    with expect_rc(0x08A + RC_H1):  # TPM_RC_TYPE (handle 1)
        tpm.hmac(key, b"data", TPM2_ALG.SHA256)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §17.2 TPM2_HMAC_Start: a non-HMAC key is TPM_RC_TYPE")
@pytest.mark.requirement(*REQ)
@needs(OWNER, *P256, "cc:TPM2_HMAC_Start")
def test_hmac_start_with_ecc_key_rejected(tpm, primary, expect_rc):
    key, _ = primary("ecc256:ecdsa-sha256:null",
                     "userwithauth|sign|fixedtpm|fixedparent|sensitivedataorigin")
    with expect_rc(0x08A + RC_H1):
        tpm.hmac_start(key, b"", TPM2_ALG.SHA256)
