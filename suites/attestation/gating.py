"""When the attestation suite may measure into a TPM's PCRs itself."""

from __future__ import annotations

import pytest


def may_extend(config: pytest.Config, target) -> bool:
    """PCR extends outlive the run: only on disposable targets, or on the target
    ``--allow-destructive`` names."""
    from tpm_hil_fixtures.plugin import session_of

    session = session_of(config)
    return session.destructive_allowed() if session is not None else bool(target.disposable)
