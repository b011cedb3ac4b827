"""Nonce-timing leakage: the recovery maths, the verdict rule, and the check
against a leaking (simulated) target and a clean swtpm."""

from __future__ import annotations

import hashlib
import random

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from harness.audit import nonce_timing as nt
from harness.audit.checks import FAIL, PASS, check_nonce_timing, offered_schemes

# Small enough to stay well under a minute on a loaded 2-core box, large enough
# that the >= 4 leading-zero class holds ~100 signatures (1 in 16).
SAMPLES = 1600
INJECTED_US_PER_BIT = 80.0


def _ecdsa_sign(d: int, k: int, digest: bytes) -> tuple[int, int]:
    x = ec.derive_private_key(k, ec.SECP256R1()).public_key().public_numbers().x
    r = x % nt.P256_N
    s = pow(k, -1, nt.P256_N) * (int.from_bytes(digest, "big") + r * d) % nt.P256_N
    return r, s


def _schnorr_sign(d: int, k: int, digest: bytes) -> tuple[int, int]:
    x = ec.derive_private_key(k, ec.SECP256R1()).public_key().public_numbers().x
    r = int.from_bytes(hashlib.sha256(x.to_bytes(32, "big") + digest).digest(), "big") % nt.P256_N
    return r, (k + r * d) % nt.P256_N


@pytest.mark.parametrize("scheme,sign", [("ecdsa", _ecdsa_sign), ("ecschnorr", _schnorr_sign)])
def test_nonce_recovery_gives_back_the_signing_nonce(scheme, sign):
    rng = random.Random(5)
    for _ in range(5):
        k = rng.randrange(1, nt.P256_N)
        digest = rng.randbytes(32)
        r, s = sign(nt.KNOWN_D, k, digest)
        assert nt.recover_nonce(scheme, digest, r, s) == k
        assert nt.nonce_consistent(scheme, digest, r, k)
        assert not nt.nonce_consistent(scheme, digest, r, k + 1)


def test_sign_command_round_trips_through_the_parser():
    digest = bytes(range(32))
    cmd = nt.build_sign_command(0x80000001, digest, "ecschnorr")
    assert nt.parse_sign_command(cmd) == (0x80000001, digest, nt.SCHEMES["ecschnorr"])
    assert int.from_bytes(cmd[2:6], "big") == len(cmd)


def _synthetic(us_per_bit: float, noise_us: float, n: int = 6000, seed: int = 1) -> nt.TimingSamples:
    rng = random.Random(seed)
    data = nt.TimingSamples("ecdsa")
    for _ in range(n):
        zeros = nt.leading_zero_bits(rng.getrandbits(256))
        data.zeros.append(zeros)
        data.times_s.append((500 + zeros * us_per_bit + rng.gauss(0, noise_us)) * 1e-6)
    return data


def test_verdict_flags_a_clear_leak():
    res = nt.analyse(_synthetic(50.0, 30.0))
    assert res.verdict == "leaks"
    assert res.us_per_bit == pytest.approx(50.0, rel=0.2)


def test_verdict_ignores_a_significant_effect_below_the_floor():
    """0.5 µs/bit with almost no noise is significant but below the 2 µs floor."""
    res = nt.analyse(_synthetic(0.5, 0.2))
    assert res.p_value < 1e-6
    assert res.verdict == "no leak"


def test_verdict_without_effect():
    res = nt.analyse(_synthetic(0.0, 40.0))
    assert res.verdict == "no leak"


def test_too_few_samples_is_inconclusive():
    assert nt.analyse(_synthetic(50.0, 1.0, n=100)).verdict == "inconclusive"


def test_leaking_target_is_flagged(leaky_chip, tmp_path):
    """SIMULATION: swtpm behind a transport that delays by the nonce's leading zeros."""
    plot = tmp_path / "leak.png"
    outcomes = check_nonce_timing(leaky_chip.esapi, leaky_chip.transport, leaky_chip.identity,
                                  SAMPLES, plot_path=plot, schemes=["ecdsa"])
    (ecdsa,) = outcomes
    assert ecdsa.verdict == FAIL, ecdsa.summary
    assert ecdsa.details["us_per_bit"] > 0.5 * INJECTED_US_PER_BIT
    assert ecdsa.details["p_value"] < 1e-6
    assert leaky_chip.transport.injected >= SAMPLES
    assert plot.stat().st_size > 10_000


def test_clean_swtpm_is_not_flagged(audit_chip, tmp_path):
    schemes = offered_schemes(audit_chip.identity)
    assert schemes == ["ecdsa", "ecschnorr"]
    outcomes = check_nonce_timing(audit_chip.esapi, audit_chip.transport, audit_chip.identity,
                                  SAMPLES, plot_path=tmp_path / "clean.png")
    assert [o.name for o in outcomes] == ["nonce_timing:ecdsa", "nonce_timing:ecschnorr"]
    for o in outcomes:
        assert o.verdict == PASS, o.summary
        assert o.details["n_high_class"] >= 40 and o.details["n_zero_class"] >= 600


def test_chip_signing_with_another_key_is_an_error_not_a_verdict(audit_chip, monkeypatch):
    """A recovery that does not reproduce r must stop the check, not give a verdict."""
    original = nt.recover_nonce
    monkeypatch.setattr(nt, "recover_nonce",
                        lambda scheme, digest, r, s, d=nt.KNOWN_D + 1: original(scheme, digest, r, s, d))
    outcomes = check_nonce_timing(audit_chip.esapi, audit_chip.transport, audit_chip.identity,
                                  200, schemes=["ecdsa"])
    assert outcomes[0].verdict == "inconclusive"
    assert "does not reproduce r" in outcomes[0].summary
