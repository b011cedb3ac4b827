"""Make sure a TPM has had TPM2_Startup (TPM 2.0 Part 3 §9.3)."""

from __future__ import annotations

from tpm2_pytss import TSS2_Exception
from tpm2_pytss.constants import TPM2_CAP, TPM2_RC, TPM2_SU


def ensure_started(esapi) -> bool:
    """Send TPM2_Startup(CLEAR) if the TPM awaits it. Returns True if it did.

    A chip fresh from power-on, an swtpm started without ``startup-clear`` or
    a TPM just power-cycled answers TPM_RC_INITIALIZE until it is started.
    """
    try:
        esapi.get_capability(TPM2_CAP.TPM_PROPERTIES, 0x100, 1)
        return False
    except TSS2_Exception as exc:
        if exc.rc != TPM2_RC.INITIALIZE:
            raise
    esapi.startup(TPM2_SU.CLEAR)
    return True
