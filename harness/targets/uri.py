"""Target strings: one string names a TPM everywhere (CLI, pytest, env).

Forms look like URIs: ``swtpm``, ``swtpm://127.0.0.1:2321``,
``device:///dev/tpmrm0``, ``spi+sim://st33ktpm?faults=...``. A bare word
(``swtpm``) is a scheme with no location.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from harness.errors import TargetURIError
from harness.secrets import register, scrub

# query parameters whose value is a secret (contract 3: auth values of virtual chips)
SECRET_PARAMS = ("owner_auth", "endorsement_auth", "lockout_auth", "password", "auth")


@dataclass(frozen=True)
class TargetURI:
    """A parsed target string.

    Attributes:
        text: the string as given.
        scheme: e.g. ``swtpm``, ``device``, ``spi+sim``.
        host: the network location's host ('' if none).
        port: the port, or None.
        path: the path ('' if none), e.g. ``/dev/tpmrm0``.
        params: query parameters.
    """

    text: str
    scheme: str
    host: str = ""
    port: int | None = None
    path: str = ""
    params: dict[str, str] = field(default_factory=dict)

    def redacted(self) -> str:
        """The target string with credentials removed (userinfo, secret parameters):
        what results folders, stores, reports, logs and databases carry."""
        return scrub(self.text)

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, default)

    def int_param(self, name: str, default: int | None = None) -> int | None:
        """An integer parameter (decimal or 0x-hex), or TargetURIError naming it."""
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            return int(raw, 0)
        except ValueError:
            raise TargetURIError(
                f"target {self.redacted()!r}: parameter {name}={raw!r} is not an integer"
            ) from None

    def bool_param(self, name: str, default: bool = False) -> bool:
        raw = self.params.get(name)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise TargetURIError(f"target {self.redacted()!r}: parameter {name}={raw!r} is not a boolean")

    def float_param(self, name: str, default: float | None = None) -> float | None:
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise TargetURIError(
                f"target {self.redacted()!r}: parameter {name}={raw!r} is not a number"
            ) from None

    def require_host_port(self) -> tuple[str, int]:
        if not self.host or self.port is None:
            raise TargetURIError(
                f"target {self.redacted()!r}: expected {self.scheme}://HOST:PORT, e.g. "
                f"{self.scheme}://127.0.0.1:2321"
            )
        return self.host, self.port


def parse_target(text: str) -> TargetURI:
    """Split a target string into its parts (syntax only, no registry check).

    Raises:
        TargetURIError: empty string, bad port, or characters that cannot form a URI.
    """
    raw = (text or "").strip()
    if not raw:
        raise TargetURIError("empty target string")
    if "://" not in raw:
        head, _, query = raw.partition("?")
        if not head or not all(c.isalnum() or c in "+-._" for c in head):
            raise TargetURIError(f"target {scrub(raw)!r} is not a target string")
        return TargetURI(raw, head.lower(), params=_params(raw, query))
    try:
        parts = urlsplit(raw)
        # Adapter URLs such as spi+ftdi://ftdi:232h/1 carry no port after the colon.
        port = None if parts.scheme.lower().endswith("+ftdi") else parts.port
    except ValueError as exc:
        detail = ("bad port or userinfo (percent-encode '/' in passwords)" if "@" in raw
                  else _port_problem(raw) or exc)
        raise TargetURIError(f"target {scrub(raw)!r}: {detail}") from None
    if parts.password:
        register(parts.password, "target password")   # scrubbed from every artefact
    if not parts.scheme:
        raise TargetURIError(f"target {scrub(raw)!r} has no scheme")
    return TargetURI(
        raw,
        parts.scheme.lower(),
        host=parts.hostname or "",
        port=port,
        path=parts.path,
        params=_params(raw, parts.query),
    )


def _port_problem(raw: str) -> str | None:
    """``port 'notaport' is not a number`` instead of urllib's wording (no userinfo in ``raw``)."""
    try:
        netloc = urlsplit(raw).netloc
    except ValueError:
        return None
    host, colon, port = netloc.rpartition(":")
    if not colon or "]" in port:   # no port, or the colon is inside an IPv6 literal
        return None
    if not port.isdigit():
        return f"port {port!r} is not a number"
    return f"port {port} is out of range (0-65535)"


def _params(raw: str, query: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise TargetURIError(f"target {scrub(raw)!r}: malformed query {scrub(query)!r}") from None
    for name, value in pairs:
        if name.lower() in SECRET_PARAMS:
            register(value, f"target parameter {name}")
    return dict(pairs)
