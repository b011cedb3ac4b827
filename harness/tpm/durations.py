"""TCG command-duration classes and interface timeouts.

The TCG PC Client Platform TPM Profile (PTP) groups commands into duration
classes; a chip profile gives the bound of each class and may move commands
between classes. The defaults follow the PTP and the Linux driver
(``drivers/char/tpm/tpm2-cmd.c``): short 20 ms, medium 750 ms, long 2 s,
and long for key generation and self-test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.tpm.names import command_code

SHORT, MEDIUM, LONG, LONG_LONG = "short", "medium", "long", "long_long"
CLASSES = (SHORT, MEDIUM, LONG, LONG_LONG)

# Commands that are not "short" by default. Everything else is short.
_DEFAULT_CLASS_BY_NAME = {
    "SelfTest": LONG,
    "IncrementalSelfTest": LONG,
    "Startup": MEDIUM,
    "Shutdown": MEDIUM,
    "Clear": MEDIUM,
    "ClearControl": MEDIUM,
    "NV_DefineSpace": MEDIUM,
    "NV_UndefineSpace": MEDIUM,
    "NV_UndefineSpaceSpecial": MEDIUM,
    "NV_Write": MEDIUM,
    "NV_Increment": MEDIUM,
    "NV_Extend": MEDIUM,
    "NV_SetBits": MEDIUM,
    "NV_WriteLock": MEDIUM,
    "NV_GlobalWriteLock": MEDIUM,
    "NV_Certify": LONG,
    "EvictControl": MEDIUM,
    "HierarchyChangeAuth": MEDIUM,
    "HierarchyControl": MEDIUM,
    "ChangeEPS": LONG_LONG,
    "ChangePPS": LONG_LONG,
    "CreatePrimary": LONG_LONG,
    "Create": LONG_LONG,
    "CreateLoaded": LONG_LONG,
    "Load": MEDIUM,
    "LoadExternal": MEDIUM,
    "Sign": LONG,
    "VerifySignature": LONG,
    "RSA_Encrypt": LONG,
    "RSA_Decrypt": LONG,
    "ECDH_KeyGen": LONG,
    "ECDH_ZGen": LONG,
    "ZGen_2Phase": LONG,
    "Quote": LONG,
    "Certify": LONG,
    "CertifyCreation": LONG,
    "GetSessionAuditDigest": LONG,
    "GetCommandAuditDigest": LONG,
    "GetTime": LONG,
    "ActivateCredential": LONG,
    "MakeCredential": LONG,
    "Import": LONG,
    "Duplicate": LONG,
    "Rewrap": LONG,
    "Unseal": MEDIUM,
    "StartAuthSession": LONG,
    "PolicySigned": LONG,
    "PolicySecret": MEDIUM,
    "EncryptDecrypt": MEDIUM,
    "EncryptDecrypt2": MEDIUM,
    "HMAC": MEDIUM,
    "Hash": MEDIUM,
    "SequenceComplete": MEDIUM,
    "EventSequenceComplete": MEDIUM,
    "ContextSave": MEDIUM,
    "ContextLoad": MEDIUM,
    "DictionaryAttackLockReset": MEDIUM,
    "DictionaryAttackParameters": MEDIUM,
    "FieldUpgradeStart": LONG_LONG,
    "FieldUpgradeData": LONG_LONG,
}


def _default_map() -> dict[int, str]:
    out = {}
    for name, cls in _DEFAULT_CLASS_BY_NAME.items():
        try:
            out[command_code(name)] = cls
        except KeyError:  # older tpm2-pytss without this command
            continue
    return out


@dataclass(frozen=True)
class CommandDurations:
    """Per-class time bounds (seconds) and per-command class assignment.

    Attributes:
        bounds: seconds allowed for each duration class.
        classes: command code -> class, for commands that are not short.
    """

    bounds: dict[str, float] = field(
        default_factory=lambda: {SHORT: 0.020, MEDIUM: 0.750, LONG: 2.0, LONG_LONG: 300.0}
    )
    classes: dict[int, str] = field(default_factory=_default_map)

    def class_of(self, code: int) -> str:
        return self.classes.get(code, SHORT)

    def bound(self, code: int) -> float:
        """Seconds the TPM may take to execute command ``code``."""
        return self.bounds[self.classes.get(code, SHORT)]

    def with_overrides(
        self, bounds: dict[str, float] | None = None, classes: dict[int, str] | None = None
    ) -> "CommandDurations":
        return CommandDurations(
            bounds={**self.bounds, **(bounds or {})},
            classes={**self.classes, **(classes or {})},
        )


@dataclass(frozen=True)
class InterfaceTimeouts:
    """TCG PTP interface timeouts (seconds): A (register access), B (locality,
    commandReady), C (status), D (burstCount, dataAvail after Expect)."""

    a: float = 0.750
    b: float = 2.0
    c: float = 0.200
    d: float = 0.030
