"""Errors raised by rig drivers, set-ups and campaigns (all HarnessError)."""

from __future__ import annotations

from harness.errors import ConfigError, HarnessError


class InstrumentError(HarnessError):
    """An instrument refused a command, answered garbage, or reported an error.

    Attributes:
        instrument: the instrument's name in the rig set-up (e.g. ``chamber``).
    """

    def __init__(self, instrument: str, message: str) -> None:
        super().__init__(f"instrument {instrument!r}: {message}")
        self.instrument = instrument


class InstrumentTimeoutError(InstrumentError):
    """An instrument did not answer within its bound (silent or unplugged)."""


class RigConfigError(ConfigError):
    """A rig set-up or campaign file is wrong (names the file and field)."""


class CampaignAbort(HarnessError):
    """The campaign stopped in a safe state; the reason is in the message."""
