"""Instrument addresses as URIs: ``modbus-tcp://host:port?unit=1``, ``serial:///dev/ttyUSB0?baud=9600``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from rigs.errors import RigConfigError


@dataclass(frozen=True)
class InstrumentAddress:
    scheme: str
    host: str
    port: int | None
    path: str
    params: dict[str, str]

    def int_param(self, key: str, default: int) -> int:
        try:
            return int(self.params.get(key, default))
        except ValueError:
            raise RigConfigError(f"address parameter {key}={self.params[key]!r} is not an integer") from None


def parse_address(text: str, instrument: str, schemes: tuple[str, ...]) -> InstrumentAddress:
    """Parse ``text``; raise RigConfigError naming the instrument and accepted forms."""
    parts = urlsplit(text)
    if parts.scheme not in schemes:
        raise RigConfigError(
            f"instrument {instrument!r}: address {text!r} has scheme {parts.scheme!r}; "
            f"expected one of {', '.join(s + '://' for s in schemes)}")
    try:
        port = parts.port
    except ValueError:
        raise RigConfigError(f"instrument {instrument!r}: bad port in address {text!r}") from None
    if parts.hostname is None and not parts.path:
        raise RigConfigError(f"instrument {instrument!r}: address {text!r} names no host or device")
    return InstrumentAddress(parts.scheme, parts.hostname or "", port, parts.path,
                             dict(parse_qsl(parts.query)))
