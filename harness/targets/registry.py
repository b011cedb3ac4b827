"""Which target strings exist, and how each becomes a :class:`Target`.

Each kind of target registers a :class:`TargetForm` from its own module.
The modules listed in ``PROVIDERS`` are imported on first use; a provider
that is not part of this installation is simply absent from the list of
accepted forms.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from harness.errors import TargetURIError
from harness.extras import advice
from harness.targets.base import Target
from harness.targets.uri import TargetURI, parse_target

ENV_VAR = "TPMHIL_TARGET"
DEFAULT_TARGET = "swtpm"

PROVIDERS = (
    "harness.targets.swtpm",
    "harness.targets.mssim",
    "harness.targets.device",
    "harness.targets.bus",      # spi://, i2c://, spi+ftdi://, i2c+ftdi://, spi+sim://, i2c+sim://
    "harness.targets.can",      # can://, serial://
    "harness.targets.remote",   # labgrid://
)


@dataclass(frozen=True)
class TargetForm:
    """One accepted kind of target string.

    Attributes:
        scheme: the scheme, e.g. ``swtpm``.
        example: a complete example string.
        summary: one line saying what it reaches.
        factory: builds the target from a parsed string.
    """

    scheme: str
    example: str
    summary: str
    factory: Callable[[TargetURI], Target]


_FORMS: dict[str, TargetForm] = {}
_loaded = False
#: Providers left out because an optional extra is not installed: module -> advice line.
_UNAVAILABLE: dict[str, str] = {}


def register(form: TargetForm) -> None:
    _FORMS[form.scheme] = form


def _load_providers() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in PROVIDERS:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            needs = advice(exc)
            if needs is None:
                raise
            _UNAVAILABLE[module] = needs   # e.g. can:// without python-can: the others still work


def forms() -> list[TargetForm]:
    _load_providers()
    return sorted(_FORMS.values(), key=lambda f: f.scheme)


def accepted_forms() -> str:
    """The accepted target strings, one per line, for error messages and help."""
    lines = [f"  {f.example:<48} {f.summary}" for f in forms()]
    lines += [f"  (not installed: {m.rsplit('.', 1)[-1]} targets {needs})"
              for m, needs in sorted(_UNAVAILABLE.items())]
    return "\n".join(lines)


#: Parameters every target string may carry (chip profile, virtual-chip options,
#: hierarchy auth values of the chip under test).
COMMON_PARAMS = frozenset({"chip", "profile", "disposable", "faults", "platform", "owner_auth",
                           "endorsement_auth", "lockout_auth"})
_BUS = frozenset({"addr", "checksum", "cs", "guard_us", "hz", "max_waits", "verify", "sim"})
#: Parameters each scheme reads (can:// and serial:// check their own, richer sets).
KNOWN_PARAMS: dict[str, frozenset[str]] = {
    "swtpm": frozenset({"ctrl", "ekcert", "banks", "state"}),
    "mssim": frozenset(),
    "device": frozenset(),
    "spi": _BUS, "i2c": _BUS, "spi+ftdi": _BUS, "i2c+ftdi": _BUS, "spi+sim": _BUS, "i2c+sim": _BUS,
    "labgrid": frozenset({"coordinator", "resource", "role", "wait"}),
    "lgenv": frozenset({"coordinator", "resource", "role", "wait"}),
}
#: Schemes that name a server: ``scheme://`` needs HOST:PORT (the bare word spawns one).
NEEDS_HOST_PORT = ("swtpm", "mssim")


def _check(uri: TargetURI) -> None:
    """Unknown parameters and a ``swtpm://`` without HOST:PORT are errors, not ignored."""
    known = KNOWN_PARAMS.get(uri.scheme)
    if known is not None:
        unknown = sorted(set(uri.params) - known - COMMON_PARAMS)
        if unknown:
            raise TargetURIError(
                f"target {uri.redacted()!r}: unknown parameter {unknown[0]!r}"
                + (f" (and {', '.join(unknown[1:])})" if unknown[1:] else "")
                + f"; {uri.scheme} accepts: {', '.join(sorted(known | COMMON_PARAMS))}")
    if uri.scheme in NEEDS_HOST_PORT and "://" in uri.text:
        uri.require_host_port()


def resolve(text: str | None) -> TargetURI:
    """Parse and check a target string (``None`` -> $TPMHIL_TARGET or ``swtpm``).

    Raises:
        TargetURIError: malformed or unknown, with the list of accepted forms.
    """
    if text is None:
        text = os.environ.get(ENV_VAR) or DEFAULT_TARGET
    try:
        uri = parse_target(text)
    except TargetURIError as exc:
        raise TargetURIError(f"{exc}\naccepted target strings:\n{accepted_forms()}") from None
    _load_providers()
    if uri.scheme not in _FORMS:
        raise TargetURIError(
            f"unknown target kind {uri.scheme!r} in {uri.redacted()!r}\n"
            f"accepted target strings:\n{accepted_forms()}"
        )
    _check(uri)
    return uri


def open_target(text: str | None) -> Target:
    """Build the target named by ``text`` (not yet started: call ``open()``)."""
    uri = resolve(text)
    return _FORMS[uri.scheme].factory(uri)
