"""SIMULATION ONLY: a transport that makes a clean TPM leak its nonce length.

:class:`SimulatedNonceLeakTransport` wraps any transport and, for every
successful TPM2_Sign with ECDSA or ECSchnorr, recovers the nonce k from the
command's digest and the response's (r, s) using the audit's *known* test key
(:data:`harness.audit.nonce_timing.KNOWN_D`), then holds the response back by
``us_per_bit`` microseconds per leading zero bit of k, the way the
ST33TPHF2x firmware behaved in TPM-Fail (CVE-2019-16863). It exists so the
project's tests can show the leakage check flags a leaking chip; it is never
used unless asked for by name (``tpmhil audit --simulate-nonce-leak US``).

Signatures by any other key give meaningless nonces and random delays.
"""

from __future__ import annotations

import struct
import time

from harness.audit.nonce_timing import (KNOWN_D, SCHEMES, TPM_CC_SIGN, leading_zero_bits,
                                        parse_sign_command, parse_sign_response, recover_nonce)
from harness.transports.base import Transport
from harness.transports.wrapper import WrappedTransport

_EC_SCHEMES = set(SCHEMES.values())


class SimulatedNonceLeakTransport(WrappedTransport):
    """SIMULATION: delays each EC signature by its nonce's leading zero bits.

    Args:
        inner: the transport to the real (clean) TPM; exchanges are logged once, here.
        us_per_bit: injected delay per leading zero bit of k (TPM-Fail-like: 50-100).
        d: the private key the signatures are assumed to use.
    """

    def __init__(self, inner: Transport, us_per_bit: float = 75.0, d: int = KNOWN_D) -> None:
        super().__init__(inner, name=f"SIMULATED-LEAK({inner.name})")
        self.us_per_bit = us_per_bit
        self.d = d
        self._command = b""
        self.injected = 0

    def _send(self, command: bytes) -> None:
        self._command = command
        self.inner._send(command)

    def _recv(self, deadline: float) -> bytes:
        response = self.inner._recv(deadline)
        command = self._command
        if (len(command) >= 10 and struct.unpack_from(">I", command, 6)[0] == TPM_CC_SIGN
                and len(response) >= 10 and struct.unpack_from(">I", response, 6)[0] == 0):
            _, digest, scheme = parse_sign_command(command)
            if scheme in _EC_SCHEMES:
                _, r, s = parse_sign_response(response)
                zeros = leading_zero_bits(recover_nonce(scheme, digest, r, s, self.d))
                until = time.perf_counter() + zeros * self.us_per_bit * 1e-6
                while time.perf_counter() < until:  # busy-wait: sleep() is too coarse for µs
                    pass
                self.injected += 1
        return response


def simulated_leak(transport) -> str | None:
    """Why measurements through ``transport`` are simulated, or None for a real chip.

    Follows wrapped transports (``.inner``) so a leak simulated under another
    wrapper is still found.
    """
    seen = 0
    while transport is not None and seen < 8:
        if isinstance(transport, SimulatedNonceLeakTransport):
            return (f"SimulatedNonceLeakTransport delays each EC signature by "
                    f"{transport.us_per_bit:g} µs per leading zero bit of its nonce "
                    "(--simulate-nonce-leak); not a measurement of the chip")
        transport = getattr(transport, "inner", None)
        seen += 1
    return None
