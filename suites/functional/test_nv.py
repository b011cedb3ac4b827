"""NV define / write / read / undefine: TPM 2.0 Part 3 §31."""

import pytest
from tpm2_pytss.constants import TPM2_ALG, TPMA_NV
from tpm2_pytss.types import TPM2B_NV_PUBLIC, TPMS_NV_PUBLIC

# Test indices are owner indices (TPM_RH_OWNER authorizes NV_DefineSpace).
pytestmark = [pytest.mark.functional, pytest.mark.needs("hierarchy:owner")]

INDEX = 0x01500010  # inside the plugin's test range: removed after each test
AUTH = b"nv-index-auth"


def _define(tpm, size=32, attrs=None):
    attrs = attrs if attrs is not None else (
        TPMA_NV.AUTHREAD | TPMA_NV.AUTHWRITE | TPMA_NV.NO_DA)
    public = TPM2B_NV_PUBLIC(nvPublic=TPMS_NV_PUBLIC(
        nvIndex=INDEX, nameAlg=TPM2_ALG.SHA256, attributes=attrs, dataSize=size))
    handle = tpm.nv_define_space(AUTH, public)
    tpm.tr_set_auth(handle, AUTH)
    return handle


@pytest.mark.spec("TPM 2.0 Part 3 §31.3, §31.7, §31.13, §31.4")
@pytest.mark.requirement("IEC62443-4-2:CR 4.2", "IEC62443-4-2:CR 3.4")
@pytest.mark.verifies("NV_DefineSpace", "NV_Write", "NV_Read", "NV_UndefineSpace")
def test_define_write_read_undefine(tpm):
    handle = _define(tpm)
    data = bytes(range(32))
    tpm.nv_write(handle, data)
    assert bytes(tpm.nv_read(handle, 32)) == data
    assert bytes(tpm.nv_read(handle, 8, offset=24)) == data[24:]
    pub, name = tpm.nv_read_public(handle)
    assert pub.nvPublic.attributes & TPMA_NV.WRITTEN, "TPMA_NV_WRITTEN not set after a write"
    tpm.nv_undefine_space(handle)
    with pytest.raises(Exception):
        tpm.tr_from_tpmpublic(INDEX)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 1 §19.6.4: a wrong authValue on a TPMA_NV_NO_DA index is "
                  "TPM_RC_BAD_AUTH (no dictionary-attack consequence)")
@pytest.mark.requirement("IEC62443-4-2:CR 1.5", "IEC62443-4-2:CR 1.11")
def test_read_with_wrong_auth_fails(tpm, expect_rc):
    handle = _define(tpm)
    tpm.nv_write(handle, b"\x01" * 32)
    tpm.tr_set_auth(handle, b"wrong")
    with expect_rc(0x9A2):  # TPM_RC_BAD_AUTH (session 1)
        tpm.nv_read(handle, 32)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §31.13: reading past the end is TPM_RC_NV_RANGE")
@pytest.mark.requirement("IEC62443-4-2:CR 3.7")
def test_read_beyond_size_is_nv_range(tpm, expect_rc):
    handle = _define(tpm, size=16)
    tpm.nv_write(handle, b"\x02" * 16)
    with expect_rc(0x146):  # TPM_RC_NV_RANGE
        tpm.nv_read(handle, 8, offset=12)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §31.13: an unwritten index is TPM_RC_NV_UNINITIALIZED")
@pytest.mark.requirement("IEC62443-4-2:CR 3.7")
def test_read_before_write_is_uninitialized(tpm, expect_rc):
    handle = _define(tpm)
    with expect_rc(0x14A):  # TPM_RC_NV_UNINITIALIZED
        tpm.nv_read(handle, 4)
