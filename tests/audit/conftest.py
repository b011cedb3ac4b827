"""Shared pieces for the audit tests: a spawned swtpm with ESAPI on it, and
generators of RSA moduli with and without the ROCA structure."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from harness.targets.registry import open_target
from harness.transports.tcti import open_esapi


@dataclass
class Chip:
    target: object
    transport: object
    esapi: object
    identity: object


def open_chip(wrap=None) -> Chip:
    """Spawn a provisioned swtpm; ``wrap`` may put a transport around it."""
    from harness.tpm.startup import ensure_started
    from harness.identity import probe

    target = open_target("swtpm")
    transport = target.open()
    if wrap is not None:
        transport = wrap(transport)
    esapi = open_esapi(transport)
    ensure_started(esapi)
    return Chip(target, transport, esapi, probe(esapi))


def close_chip(chip: Chip) -> None:
    try:
        chip.esapi.close()
    finally:
        chip.target.close()


@pytest.fixture(scope="module")
def audit_chip():
    chip = open_chip()
    yield chip
    close_chip(chip)


# -- ROCA-structured moduli ------------------------------------------------------

_SMALL_PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73,
                 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167]


def primorial() -> int:
    m = 1
    for p in _SMALL_PRIMES:
        m *= p
    return m


def is_probable_prime(n: int, rng: random.Random, rounds: int = 24) -> bool:
    """Miller-Rabin."""
    if n < 2:
        return False
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def roca_prime(bits: int, rng: random.Random) -> int:
    """A prime of the vulnerable form p = k*M + (65537^a mod M) (Nemec et al. §2)."""
    m = primorial()
    while True:
        a = rng.randrange(1, 2**40)
        k = rng.getrandbits(bits - m.bit_length()) | (1 << (bits - m.bit_length() - 1))
        p = k * m + pow(65537, a, m)
        if p.bit_length() == bits and is_probable_prime(p, rng):
            return p


def roca_modulus(bits: int, seed: int) -> int:
    rng = random.Random(seed)
    return roca_prime(bits // 2, rng) * roca_prime(bits // 2, rng)


class RocaGen:
    """Generators handed to tests (importlib mode cannot import conftest)."""

    modulus = staticmethod(roca_modulus)
    prime = staticmethod(roca_prime)
    primorial = staticmethod(primorial)


@pytest.fixture
def roca_gen() -> RocaGen:
    return RocaGen()


@pytest.fixture
def leaky_chip():
    """SIMULATION: a swtpm whose signatures leak their nonce length (75-80 µs per bit)."""
    from harness.audit.leaky_transport import SimulatedNonceLeakTransport

    chip = open_chip(lambda t: SimulatedNonceLeakTransport(t, us_per_bit=80.0))
    yield chip
    close_chip(chip)


@pytest.fixture
def fresh_chip():
    """A swtpm of the test's own (it may be stopped by the test)."""
    chip = open_chip()
    yield chip
    close_chip(chip)
