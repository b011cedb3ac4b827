import pytest

from harness.errors import ResponseFormatError
from harness.tpm.names import command_code, command_name, rc_name
from harness.tpm.wire import build_command, check_response


@pytest.mark.parametrize("rc, name", [
    (0x000, "TPM_RC_SUCCESS"),
    (0x100, "TPM_RC_INITIALIZE"),
    (0x101, "TPM_RC_FAILURE"),
    (0x01E, "TPM_RC_BAD_TAG"),
    (0x98E, "TPM_RC_AUTH_FAIL (session 1)"),
    (0x9A2, "TPM_RC_BAD_AUTH (session 1)"),
    (0x1D5, "TPM_RC_SIZE (parameter 1)"),
    (0x2DB, "TPM_RC_SIGNATURE (parameter 2)"),
    (0x18B, "TPM_RC_HANDLE (handle 1)"),
    (0x922, "TPM_RC_RETRY"),
    (0x907, "TPM_RC_LOCALITY"),
])
def test_response_codes_decode_to_tcg_names(rc, name):
    assert rc_name(rc) == name


def test_command_names_round_trip():
    assert command_name(0x17B) == "TPM2_GetRandom"
    assert command_code("TPM2_GetRandom") == 0x17B
    assert command_name(0x20000001) == "TPM2_CC_0x20000001"


def test_well_formed_response_passes():
    assert check_response(bytes.fromhex("80010000000a00000000"), "TPM2_X") == (0x8001, 0)


@pytest.mark.parametrize("raw, fragment", [
    (b"", "shorter than the 10-byte TPM header"),
    (bytes.fromhex("800100000010000000"), "shorter than the 10-byte"),
    (bytes.fromhex("12340000000a00000000"), "tag 0x1234"),
    (bytes.fromhex("80010000000c000000000000"[:-4]), "declares 12 bytes but 10"),
    (bytes.fromhex("80010000000c000001010000"), "error response 0x00000101 carries 2 bytes"),
])
def test_malformed_responses_name_the_command(raw, fragment):
    with pytest.raises(ResponseFormatError) as exc:
        check_response(raw, "TPM2_GetRandom")
    assert "TPM2_GetRandom" in str(exc.value) and fragment in str(exc.value)


def test_build_command_header():
    assert build_command(0x17B, b"\x00\x08") == bytes.fromhex("80010000000c0000017b0008")
