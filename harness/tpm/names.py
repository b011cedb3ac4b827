"""Names of TPM 2.0 command codes and response codes.

Names come from tpm2-pytss's constant tables (which follow TPM 2.0 Part 2), so
they match what a TPM engineer reads in the specification: ``TPM2_GetRandom``,
``TPM_RC_AUTH_FAIL (session 1)``.
"""

from __future__ import annotations

from functools import lru_cache

from tpm2_pytss.constants import TPM2_CC, TPM2_RC

RC_VER1 = 0x100
RC_FMT1 = 0x080
RC_WARN = 0x900


def _members(cls: type, skip: tuple[str, ...] = ()) -> dict[int, str]:
    out: dict[int, str] = {}
    for attr in dir(cls):
        if attr.startswith("_") or not attr[0].isupper() or attr in skip:
            continue
        value = getattr(cls, attr)
        if isinstance(value, int) and not isinstance(value, bool):
            out.setdefault(int(value), attr)
    return out


# FIRST/LAST alias real commands (0x11F is NV_UndefineSpaceSpecial): skip them before
# they shadow the command's own name.
_CC_NAMES = _members(TPM2_CC, skip=("FIRST", "LAST"))
_RC_NAMES = _members(TPM2_RC)
# TPM2_RC carries aliases (e.g. several names for one value); prefer the spec's.
_RC_PREFERRED = {0x000: "SUCCESS", 0x01E: "BAD_TAG"}
_RC_NAMES.update(_RC_PREFERRED)


@lru_cache(maxsize=512)
def command_name(code: int) -> str:
    """``0x17B`` -> ``"TPM2_GetRandom"``; unknown codes keep their number."""
    name = _CC_NAMES.get(code)
    return f"TPM2_{name}" if name else f"TPM2_CC_0x{code:08x}"


def command_code(name: str) -> int:
    """``"GetRandom"`` or ``"TPM2_GetRandom"`` -> ``0x17B``."""
    bare = name.removeprefix("TPM2_").removeprefix("TPM_CC_")
    for code, cc_name in _CC_NAMES.items():
        if cc_name.lower() == bare.lower():
            return code
    raise KeyError(f"unknown TPM command name {name!r}")


def all_command_names() -> dict[int, str]:
    """Every command code tpm2-pytss knows, with its ``TPM2_`` name."""
    return {code: f"TPM2_{name}" for code, name in _CC_NAMES.items()}


@lru_cache(maxsize=1024)
def rc_name(rc: int) -> str:
    """Decode a response code into its TCG name and position.

    Examples: ``0`` -> ``TPM_RC_SUCCESS``; ``0x98e`` -> ``TPM_RC_AUTH_FAIL (session 1)``;
    ``0x1d5`` -> ``TPM_RC_SIZE (parameter 1)``; ``0x922`` -> ``TPM_RC_RETRY``.
    Codes from the TSS layers (rc >> 16 != 0) keep their layer number.
    """
    if rc == 0:
        return "TPM_RC_SUCCESS"
    layer = rc >> 16
    if layer:
        return f"TSS2_RC_LAYER_{layer}:0x{rc & 0xFFFF:04x}"
    if rc & RC_FMT1:
        base = (rc & 0x3F) | RC_FMT1
        name = _RC_NAMES.get(base, f"0x{base:03x}")
        number = (rc >> 8) & 0xF
        if rc & 0x40:
            where = f"parameter {number}"
        elif number & 0x8:
            where = f"session {number & 0x7}"
        else:
            where = f"handle {number}"
        return f"TPM_RC_{name} ({where})" if number else f"TPM_RC_{name}"
    if rc == 0x01E:
        return "TPM_RC_BAD_TAG"
    if rc & RC_VER1:
        base = rc & 0xFFF
        return "TPM_RC_" + _RC_NAMES.get(base, f"0x{base:03x}")
    return f"TPM_RC_0x{rc:03x} (TPM 1.2 format)"
