"""Self-tests (TPM 2.0 Part 3 §10.2-§10.4) and the random number generator
(§16.1 GetRandom, §16.2 StirRandom) with SP 800-22 style checks whose
thresholds (about 6 standard deviations, p < 1e-9) cannot flake."""

import math
import struct
from collections import Counter

import pytest
from scipy import stats
from tpm2_pytss.constants import TPM2_ALG
from tpm2_pytss.types import TPML_ALG

pytestmark = [pytest.mark.conformance]
verifies = pytest.mark.verifies
SELF = ("IEC62443-4-2:CR 3.3", "FIPS140-3:self-tests")
RNG = ("IEC62443-4-2:CR 4.3", "FIPS140-3:approved-algorithms")
ALPHA = 1e-9
SAMPLE_BYTES = 8192


@verifies("SelfTest", "GetTestResult", "IncrementalSelfTest")
@pytest.mark.spec("TPM 2.0 Part 3 §10.2 SelfTest(full), §10.4 GetTestResult, "
                  "§10.3 IncrementalSelfTest")
@pytest.mark.requirement(*SELF)
def test_self_tests_pass(tpm):
    tpm.self_test(True)
    out, rc = tpm.get_test_result()
    assert int(rc) == 0, f"GetTestResult after SelfTest: 0x{int(rc):x}, {bytes(out).hex()}"
    todo = tpm.incremental_self_test(TPML_ALG([TPM2_ALG.SHA256, TPM2_ALG.AES]))
    assert len(todo) == 0, "after a full self-test nothing should remain to test"


@pytest.mark.negative
@verifies("SelfTest")
@pytest.mark.spec("TPM 2.0 Part 3 §10.2 SelfTest with fullTest not YES/NO is TPM_RC_VALUE")
@pytest.mark.requirement(*SELF)
def test_self_test_bad_yes_no(raw):
    rc, _ = raw(0x143, bytes([2]))
    assert rc == 0x084 + 0x140, hex(rc)


@pytest.mark.negative
@verifies("IncrementalSelfTest")
@pytest.mark.spec("TPM 2.0 Part 3 §10.3 IncrementalSelfTest with a list count over "
                  "MAX_ALG_LIST_SIZE is TPM_RC_SIZE (Part 2 §10.9.3 TPML_ALG)")
@pytest.mark.requirement(*SELF)
def test_incremental_self_test_oversized_list(raw):
    # The count is checked before the list is read, so the buffer stays small enough
    # for any chip's TPM_PT_MAX_COMMAND_SIZE.
    rc, _ = raw(0x142, struct.pack(">I", 1000) + b"\x00\x0b" * 8)
    assert rc == 0x095 + 0x140, hex(rc)  # TPM_RC_SIZE (parameter 1)


def _sample(tpm) -> bytes:
    out = b""
    while len(out) < SAMPLE_BYTES:
        out += bytes(tpm.get_random(32))
    return out[:SAMPLE_BYTES]


@verifies("GetRandom")
@pytest.mark.spec("TPM 2.0 Part 3 §16.1 TPM2_GetRandom: no repeated blocks, monobit, runs, "
                  "byte histogram")
@pytest.mark.requirement(*RNG)
def test_random_statistics(tpm):
    data = _sample(tpm)
    blocks = [data[i:i + 32] for i in range(0, len(data), 32)]
    assert len(set(blocks)) == len(blocks), "GetRandom returned a repeated 32-byte block"
    n = len(data) * 8
    ones = sum(bin(b).count("1") for b in data)
    z_mono = abs(ones - n / 2) / math.sqrt(n / 4)
    assert z_mono < stats.norm.isf(ALPHA / 2), f"monobit z={z_mono:.2f}"
    bits = "".join(f"{b:08b}" for b in data)
    runs = 1 + sum(1 for i in range(1, n) if bits[i] != bits[i - 1])
    pi = ones / n
    z_runs = abs(runs - 2 * n * pi * (1 - pi)) / (2 * math.sqrt(2 * n) * pi * (1 - pi))
    assert z_runs < stats.norm.isf(ALPHA / 2), f"runs z={z_runs:.2f}"
    counts = Counter(data)
    expected = len(data) / 256
    chi2 = sum((counts.get(v, 0) - expected) ** 2 / expected for v in range(256))
    assert chi2 < stats.chi2.isf(ALPHA, 255), f"byte histogram chi2={chi2:.1f}"


def _monobit_ok(data: bytes) -> bool:
    n = len(data) * 8
    ones = sum(bin(b).count("1") for b in data)
    return abs(ones - n / 2) / math.sqrt(n / 4) < stats.norm.isf(ALPHA / 2)


@verifies("StirRandom")
@pytest.mark.spec("TPM 2.0 Part 3 §16.2 TPM2_StirRandom adds to the DRBG state (SP 800-90A "
                  "additional input): the same input stirred twice must not lead to the same "
                  "output (the input does not replace the state), and the output stays random")
@pytest.mark.requirement(*RNG)
def test_stir_random(tpm):
    stir = b"additional input" * 8
    outputs = []
    for _ in range(2):
        tpm.stir_random(stir)
        outputs.append(b"".join(bytes(tpm.get_random(32)) for _ in range(16)))
    assert outputs[0] != outputs[1], "the same StirRandom input gave the same random output"
    assert stir not in outputs[0] + outputs[1]
    assert all(_monobit_ok(o) for o in outputs), "GetRandom after StirRandom fails monobit"


@pytest.mark.negative
@verifies("StirRandom", "GetRandom")
@pytest.mark.spec("TPM 2.0 Part 3 §16.1 GetRandom of zero bytes returns an empty buffer; "
                  "§16.2 StirRandom over 128 bytes is TPM_RC_SIZE")
@pytest.mark.requirement(*RNG)
def test_random_edges(tpm, raw):
    rc, response = raw(0x17B, b"\x00\x00")
    assert rc == 0 and response[10:] == b"\x00\x00"
    rc, _ = raw(0x146, struct.pack(">H", 129) + b"s" * 129)
    assert rc == 0x095 + 0x140, hex(rc)
