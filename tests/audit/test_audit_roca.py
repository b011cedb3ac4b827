"""Weak RSA keys (badkeys, offline): the ROCA fingerprint fires on the vulnerable
structure and is quiet on ordinary keys; Fermat-close primes and small factors are
caught too; the verdicts equal roca-detect's on its own test keys."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.audit.roca import CHECKS, check_moduli, chip_rsa_keys, has_roca_fingerprint, weaknesses


@pytest.mark.parametrize("bits,seed", [(1024, 1), (2048, 2), (2048, 3)])
def test_vulnerable_structure_moduli_are_flagged(bits, seed, roca_gen):
    n = roca_gen.modulus(bits, seed)
    assert n.bit_length() in (bits, bits - 1)
    assert has_roca_fingerprint(n)


def test_ordinary_keys_are_not_flagged():
    for _ in range(4):
        n = rsa.generate_private_key(65537, 2048).public_key().public_numbers().n
        assert not has_roca_fingerprint(n)


def test_prime_times_structured_prime_is_quiet(roca_gen):
    """Only a product of two structured primes is a power of 65537 mod M."""
    ordinary = rsa.generate_private_key(65537, 2048).private_numbers().p
    import random

    n = ordinary * roca_gen.prime(1024, random.Random(7))
    assert not has_roca_fingerprint(n)


def test_short_modulus_is_refused():
    with pytest.raises(ValueError, match="too short"):
        has_roca_fingerprint(2**200 + 1)


def test_findings_name_each_key(roca_gen):
    findings = check_moduli([("vulnerable", roca_gen.modulus(1024, 4)),
                             ("ordinary", rsa.generate_private_key(65537, 2048).public_key().public_numbers().n)])
    assert [(f.origin, f.vulnerable) for f in findings] == [("vulnerable", True), ("ordinary", False)]
    assert findings[0].to_dict()["weaknesses"] == {"roca": "detected"}
    assert findings[0].to_dict()["roca_fingerprint"] is True


def test_offline_checks_only():
    """badkeys' network blocklist is never asked (no downloads in a lab)."""
    assert set(CHECKS) == {"roca", "fermat", "smallfactors", "sharedprimes"}


def _next_prime(n: int) -> int:
    import gmpy2  # badkeys' own dependency

    return int(gmpy2.next_prime(n))


def test_close_primes_are_caught_by_fermat():
    rng = random.Random(11)
    p = _next_prime(rng.getrandbits(1024) | (1 << 1023))
    q = _next_prime(p + 2)
    assert set(weaknesses(p * q)) == {"fermat"}


def test_small_factor_is_caught():
    rng = random.Random(12)
    n = 65537 * _next_prime(rng.getrandbits(2031) | (1 << 2030))
    assert "smallfactors" in weaknesses(n)


def test_same_verdicts_as_roca_detect_on_its_test_keys():
    """roca-detect's own test keys (its package data, read at test time, never committed):
    badkeys' ROCA verdict equals roca-detect's for every one of them."""
    detect = pytest.importorskip("roca.detect", reason="roca-detect is not installed here (the "
                                 "comparison needs its package data)")
    import logging
    from importlib.resources import files

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    logging.getLogger("roca.detect").setLevel(logging.ERROR)
    data = files("roca.tests") / "data"
    moduli = []
    for entry in sorted(data.iterdir(), key=lambda e: e.name):
        raw = entry.read_bytes()
        if entry.name.startswith("mod"):
            moduli += [(entry.name, int(v, 16)) for v in raw.decode().split()]
        elif entry.name.startswith("cert"):
            moduli.append((entry.name, x509.load_pem_x509_certificate(raw).public_key().public_numbers().n))
        elif entry.name.startswith("pubkey"):
            moduli.append((entry.name, serialization.load_pem_public_key(raw).public_numbers().n))
    fingerprinter = detect.RocaFingerprinter()
    verdicts = [(name, bool(fingerprinter.has_fingerprint(n)), has_roca_fingerprint(n)) for name, n in moduli]
    assert len(verdicts) >= 15 and sum(v[1] for v in verdicts) >= 6
    assert [v for v in verdicts if v[1] != v[2]] == []


def test_chip_keys_are_collected_and_clean_on_swtpm(audit_chip):
    indices = tuple(int(h, 16) for h in audit_chip.identity.ek_certificates)
    keys = chip_rsa_keys(audit_chip.esapi, indices)
    origins = [o for o, _ in keys]
    assert "EK certificate 0x01c00002" in origins  # the ECC P-384 certificate is not RSA
    assert not any(o == "EK certificate 0x01c00016" for o in origins)
    by_origin = dict(keys)
    assert by_origin["EK certificate 0x01c00002"] == by_origin["EK from TCG template EK-RSA2048"]
    assert any(o.startswith("EK from TCG template") for o in origins)
    assert any("storage primary" in o for o in origins)
    assert any("created child" in o for o in origins)
    assert any(o.startswith("persistent key 0x81010001") for o in origins)
    assert all(n.bit_length() == 2048 for _, n in keys)
    assert not any(f.vulnerable for f in check_moduli(keys))
