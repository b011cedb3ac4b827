"""Hierarchy auth values a lab has set on its boards, given to the run (pytest, audit, attest).

A board's owner, endorsement or lockout hierarchy may carry an auth value
(TPM 2.0 Part 1 §13.8: ownerAuth, endorsementAuth, lockoutAuth). The lab
gives it with ``--owner-auth`` / ``--endorsement-auth`` / ``--lockout-auth``
or, better (command lines end up in shell history and process lists), with
``$TPMHIL_OWNER_AUTH`` / ``$TPMHIL_ENDORSEMENT_AUTH`` / ``$TPMHIL_LOCKOUT_AUTH``.

A value is text (its UTF-8 bytes) unless it starts with ``hex:`` (then hex
digits), as tpm2-tools reads auth values. Values are never printed, logged or
stored: they are registered with :mod:`harness.secrets` (when present) so that
every artefact writer scrubs them, and :class:`HierarchyAuth` hides them from
``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

HIERARCHIES = ("owner", "endorsement", "lockout")
_ENV = {h: f"TPMHIL_{h.upper()}_AUTH" for h in HIERARCHIES}
TPM2B_AUTH_MAX = 64  # a TPM2B_AUTH holds at most a TPMU_HA (sha512), Part 2 §10.4.3


class AuthValueError(ValueError):
    """An auth value that cannot be used; the message never contains the value."""


def parse_auth(text: str, where: str) -> bytes:
    """``"hex:00ff"`` -> ``b"\\x00\\xff"``; anything else -> its UTF-8 bytes.

    Raises:
        AuthValueError: bad hex, or longer than a TPM2B_AUTH; ``where`` names the source.
    """
    if text.startswith("hex:"):
        try:
            value = bytes.fromhex(text[4:])
        except ValueError:
            raise AuthValueError(f"{where}: 'hex:' is not followed by hex digits") from None
    else:
        value = text.encode("utf-8")
    if len(value) > TPM2B_AUTH_MAX:
        raise AuthValueError(f"{where}: {len(value)} bytes, a TPM2B_AUTH holds at most "
                             f"{TPM2B_AUTH_MAX}")
    return value


class HierarchyAuth(Mapping[str, bytes]):
    """``{"owner": b"...", ...}`` for the hierarchies whose auth the lab gave."""

    def __init__(self, values: Mapping[str, bytes] | None = None) -> None:
        self._values = dict(values or {})

    def __getitem__(self, name: str) -> bytes:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"HierarchyAuth(given={sorted(self._values)})"

    def restricted_to(self, names) -> "HierarchyAuth":
        """Only the values for ``names`` (hierarchies whose auth the chip reports as set):
        a value given for an empty auth would only fail, and a failed lockout
        authorization locks the lockout hierarchy for lockoutRecovery."""
        return HierarchyAuth({k: v for k, v in self._values.items() if k in names})

    def get_auth(self, name: str) -> bytes:
        """The auth of hierarchy ``name``: the lab's value, else the empty auth."""
        return self._values.get(name, b"")

    def apply(self, esapi) -> None:
        """Set the values on ESYS_TR.OWNER / ENDORSEMENT / LOCKOUT of ``esapi``."""
        from tpm2_pytss.constants import ESYS_TR

        handles = {"owner": ESYS_TR.OWNER, "endorsement": ESYS_TR.ENDORSEMENT,
                   "lockout": ESYS_TR.LOCKOUT}
        for name, value in self._values.items():
            esapi.tr_set_auth(handles[name], value)


def from_options(option, environ: Mapping[str, str] | None = None) -> HierarchyAuth:
    """Read the options (``option.owner_auth`` ...) or else the environment.

    Raises:
        AuthValueError: a value is unusable (the message names the option, not the value).
    """
    env = os.environ if environ is None else environ
    values = {}
    for name in HIERARCHIES:
        given = getattr(option, f"{name}_auth", None)
        where = f"--{name}-auth"
        if given is None and env.get(_ENV[name]) is not None:
            given, where = env[_ENV[name]], f"${_ENV[name]}"
        if given is None:
            continue
        values[name] = parse_auth(given, where)
        _register_secret(values[name], f"{name} auth")
    return HierarchyAuth(values)


def _register_secret(value: bytes, label: str) -> None:
    if not value:
        return
    try:
        from harness import secrets
    except ImportError:
        return
    register = getattr(secrets, "register", None)
    if register is not None:
        register(value, label)


def auth_set_on_chip(esapi) -> set[str]:
    """The hierarchies whose auth TPM_PT_PERMANENT (Part 2 §8.6) reports as set."""
    from tpm2_pytss.constants import TPM2_CAP

    from harness.tpm import properties as PT

    _, data = esapi.get_capability(TPM2_CAP.TPM_PROPERTIES, PT.PERMANENT, 1)
    props = {p.property: p.value for p in data.data.tpmProperties}
    permanent = props.get(PT.PERMANENT, 0)
    bits = {"owner": 1 << 0, "endorsement": 1 << 1, "lockout": 1 << 2}
    return {name for name, bit in bits.items() if permanent & bit}


def apply_for_chip(esapi, auth: HierarchyAuth) -> list[str]:
    """Set the lab's values for the hierarchies whose auth is set on the chip.

    Returns one line per hierarchy whose auth the chip reports as set and the
    lab did not give (empty when nothing is missing); the lines never hold a value.
    """
    on_chip = auth_set_on_chip(esapi)
    auth.restricted_to(on_chip).apply(esapi)
    return [f"the chip's {name} auth is set and not given (--{name}-auth or ${_ENV[name]}); "
            f"checks that need the {name} hierarchy cannot complete"
            for name in HIERARCHIES if name in on_chip and name not in auth]


def add_auth_options(parser) -> None:
    """``--owner-auth`` / ``--endorsement-auth`` / ``--lockout-auth`` for a command line."""
    for name in HIERARCHIES:
        parser.add_argument(f"--{name}-auth", default=None, metavar="AUTH",
                            help=f"the board's {name} hierarchy auth ('hex:..' or text; better: "
                                 f"${_ENV[name]}, kept out of shell history); never printed")


def auth_environment(option) -> dict[str, str]:
    """``{"TPMHIL_OWNER_AUTH": text, ...}`` for the values given as options, checked, for a
    child process (a pytest run) that reads them from its environment, not its argv.

    Raises:
        AuthValueError: a value is unusable (the message names the option, not the value).
    """
    out = {}
    for name in HIERARCHIES:
        given = getattr(option, f"{name}_auth", None)
        if given is not None:
            _register_secret(parse_auth(given, f"--{name}-auth"), f"{name} auth")
            out[_ENV[name]] = given
    if out or any(os.environ.get(_ENV[h]) is not None for h in HIERARCHIES):
        from_options(option)  # the environment's values are checked too
    return out
