"""TPM2_GetRandom: TPM 2.0 Part 3 §16.1."""

import math
from collections import Counter

import pytest

from harness.tpm.wire import build_command

pytestmark = [pytest.mark.functional]

SAMPLE_BYTES = 16 * 1024
# z-score bound for monobit/runs: a correct generator exceeds it with p < 1e-12,
# so the check does not flake; a stuck or biased generator fails it at once.
Z_MAX = 7.0


def _draw(tpm, caps, total: int) -> bytes:
    chunk = caps.max_digest or 32
    out = bytearray()
    while len(out) < total:
        out += bytes(tpm.get_random(min(chunk, total - len(out))))
    return bytes(out)


@pytest.mark.spec("TPM 2.0 Part 3 §16.1")
@pytest.mark.requirement("IEC62443-4-2:CR 4.3", "FIPS140-3:approved-algorithms")
@pytest.mark.parametrize("length", [1, 8, 16, 32])
def test_get_random_returns_requested_length(tpm, length):
    assert len(tpm.get_random(length)) == length


@pytest.mark.spec("TPM 2.0 Part 3 §16.1.2: at most the largest digest size is returned")
@pytest.mark.needs("pt:max_digest>=20")
def test_get_random_caps_at_max_digest(tpm, caps):
    asked = caps.max_digest + 64  # more than the largest digest (TPM_PT_MAX_DIGEST)
    got = len(tpm.get_random(asked))
    assert 0 < got <= caps.max_digest, \
        f"asked {asked} bytes, got {got} (TPM_PT_MAX_DIGEST {caps.max_digest})"


@pytest.mark.requirement("IEC62443-4-2:CR 4.3")
def test_no_repeated_blocks(tpm):
    blocks = [bytes(tpm.get_random(32)) for _ in range(200)]
    assert len(set(blocks)) == len(blocks), "GetRandom repeated a 32-byte block"


@pytest.mark.requirement("IEC62443-4-2:CR 4.3", "FIPS140-3:approved-algorithms")
@pytest.mark.verifies("GetRandom")
def test_statistical_sanity_monobit_runs_histogram(tpm, caps):
    """SP 800-22 style sanity (monobit, runs, byte histogram) on 16 KiB."""
    data = _draw(tpm, caps, SAMPLE_BYTES)
    n = len(data) * 8
    ones = sum(bin(b).count("1") for b in data)
    z_mono = abs(2 * ones - n) / math.sqrt(n)
    assert z_mono < Z_MAX, f"monobit: {ones} ones in {n} bits (z={z_mono:.1f})"

    bits = "".join(f"{b:08b}" for b in data)
    runs = 1 + sum(1 for a, b in zip(bits, bits[1:]) if a != b)
    pi = ones / n
    expected = 2 * n * pi * (1 - pi)
    z_runs = abs(runs - expected) / (2 * math.sqrt(2 * n) * pi * (1 - pi))
    assert z_runs < Z_MAX, f"runs: {runs} runs, expected {expected:.0f} (z={z_runs:.1f})"

    counts = Counter(data)
    expected_per_value = len(data) / 256
    chi2 = sum((counts.get(v, 0) - expected_per_value) ** 2 / expected_per_value for v in range(256))
    # 255 degrees of freedom: mean 255, sd ~22.6; 450 is > 8 sd away.
    assert chi2 < 450, f"byte histogram chi-square {chi2:.0f} (255 dof)"


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 1 §18.6: a missing parameter is TPM_RC_INSUFFICIENT")
@pytest.mark.requirement("IEC62443-4-2:CR 3.7")
def test_truncated_get_random_is_insufficient(tpm_raw):
    response = tpm_raw.exchange(build_command(0x17B, b""))
    rc = int.from_bytes(response[6:10], "big")
    assert rc == 0x1DA, f"expected TPM_RC_INSUFFICIENT (parameter 1) 0x1da, got 0x{rc:03x}"
