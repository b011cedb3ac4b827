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
            if exc.name != module:
                raise


def forms() -> list[TargetForm]:
    _load_providers()
    return sorted(_FORMS.values(), key=lambda f: f.scheme)


def accepted_forms() -> str:
    """The accepted target strings, one per line, for error messages and help."""
    return "\n".join(f"  {f.example:<48} {f.summary}" for f in forms())


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
            f"unknown target kind {uri.scheme!r} in {text!r}\n"
            f"accepted target strings:\n{accepted_forms()}"
        )
    return uri


def open_target(text: str | None) -> Target:
    """Build the target named by ``text`` (not yet started: call ``open()``)."""
    uri = resolve(text)
    return _FORMS[uri.scheme].factory(uri)
