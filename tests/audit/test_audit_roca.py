"""ROCA fingerprint: fires on the vulnerable structure, quiet on ordinary keys."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.audit.roca import check_moduli, chip_rsa_keys, has_roca_fingerprint


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
