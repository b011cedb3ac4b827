"""Put tpm2-pytss ESAPI on top of any :class:`Transport` through ``PyTCTI``.

ESAPI then runs unchanged on a spawned swtpm, a kernel device, a SPI chip or
a CAN gateway, and every command it sends is checked and logged by the
transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tpm2_pytss.TCTI import PyTCTI

if TYPE_CHECKING:
    from tpm2_pytss import ESAPI

    from harness.transports.base import Transport


class TransportTCTI(PyTCTI):
    """A TCTI whose transmit/receive are a harness transport's."""

    def __init__(self, transport: "Transport", max_size: int = 4096) -> None:
        super().__init__(max_size=max_size, magic=b"TPMHIL\x00\x00")
        self.transport = transport

    def do_transmit(self, command: bytes) -> None:
        self.transport.tcti_error = None
        try:
            self.transport.transmit(bytes(command))
        except Exception as exc:
            self.transport.tcti_error = exc  # the TSS may report it only as "Catch all"
            raise

    def do_receive(self, timeout: int) -> bytes:
        # ESAPI passes -1 (block); the transport's per-command bound applies.
        try:
            return self.transport.receive(None if timeout < 0 else timeout / 1000.0)
        except Exception as exc:
            self.transport.tcti_error = exc
            raise

    def do_cancel(self) -> None:
        self.transport.cancel()

    def do_set_locality(self, locality: int) -> None:
        self.transport.set_locality(locality)

    def do_finalize(self) -> None:
        # The transport belongs to its target, which closes it.
        pass


def open_esapi(transport: "Transport") -> "ESAPI":
    """An ESAPI context speaking through ``transport``."""
    from tpm2_pytss import ESAPI

    return ESAPI(TransportTCTI(transport))
