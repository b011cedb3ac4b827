"""harness.reference.names (tpm2-pytss get_name) against fixed vectors computed with hashlib."""

import hashlib

import pytest
from tpm2_pytss.types import TPM2B_PUBLIC, TPMS_NV_PUBLIC, TPMT_PUBLIC

from harness.reference.hashes import TPM_ALG_SHA256, TPM_ALG_SHA384
from harness.reference.names import handle_name, nv_name, object_name

# TPMT_PUBLIC: ECC, nameAlg SHA-256, fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|sign,
# no policy, symmetric NULL, ECDSA-SHA256, NIST P-256, KDF NULL, x = 01..20, y = 21..40.
ECC_PUBLIC = bytes.fromhex(
    "0023000b00040072000000100018000b0003001000200102030405060708090a0b0c0d0e0f101112131415"
    "161718191a1b1c1d1e1f2000202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40")
ECC_NAME = "000b85663c09e9bb94d9b24d47595491e3c4732856fcb6e6397c7f5a7bf895a2bac0"
# TPMS_NV_PUBLIC: index 0x01500016, SHA-256, ownerWrite|authWrite|ownerRead|authRead|written,
# no policy, 32 bytes.
NV_PUBLIC = bytes.fromhex("01500016000b2006000600000020")
NV_NAME = "000be2d663da4fcf077ab479514b7c4db4191b9931cf9551f0b70af9193ff27599ca"


def test_object_name_fixed_vector():
    assert ECC_NAME == "000b" + hashlib.sha256(ECC_PUBLIC).hexdigest()
    assert object_name(TPM_ALG_SHA256, ECC_PUBLIC).hex() == ECC_NAME
    area, _ = TPMT_PUBLIC.unmarshal(ECC_PUBLIC)
    assert object_name(TPM_ALG_SHA256, area).hex() == ECC_NAME
    assert object_name(TPM_ALG_SHA256, TPM2B_PUBLIC(publicArea=area)).hex() == ECC_NAME


def test_nv_name_fixed_vector():
    assert NV_NAME == "000b" + hashlib.sha256(NV_PUBLIC).hexdigest()
    assert nv_name(TPM_ALG_SHA256, NV_PUBLIC).hex() == NV_NAME
    area, _ = TPMS_NV_PUBLIC.unmarshal(NV_PUBLIC)
    assert nv_name(TPM_ALG_SHA256, area).hex() == NV_NAME


def test_names_refuse_what_is_not_the_named_structure():
    with pytest.raises(ValueError, match="not a marshalled TPMT_PUBLIC"):
        object_name(TPM_ALG_SHA256, ECC_PUBLIC[:-1])
    with pytest.raises(ValueError, match="1 bytes after"):
        object_name(TPM_ALG_SHA256, ECC_PUBLIC + b"\x00")
    with pytest.raises(ValueError, match="nameAlg 0x000b"):
        nv_name(TPM_ALG_SHA384, NV_PUBLIC)


def test_handle_name_is_the_handle():
    assert handle_name(0x40000001) == b"\x40\x00\x00\x01"
