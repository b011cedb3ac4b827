"""The one exception family of the harness.

Every error the harness raises derives from :class:`HarnessError` and carries a
message that names what was expected and what was found, so that a QA engineer
can act on it without reading a traceback.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Root of all tpm-hil errors."""


class ConfigError(HarnessError):
    """A configuration input (file, option, environment variable) is wrong."""


class TargetURIError(ConfigError):
    """A target string is malformed or names an unknown kind of target."""


class ProfileError(ConfigError):
    """A chip profile file is missing, unreadable or has a bad field."""


class TargetError(HarnessError):
    """A target could not be opened, provisioned or torn down."""


class TransportError(HarnessError):
    """An exchange with the TPM failed at the transport level.

    Attributes:
        command: name of the TPM command being carried, if known.
    """

    def __init__(self, message: str, command: str | None = None) -> None:
        super().__init__(message)
        self.command = command


class TpmTimeoutError(TransportError):
    """The TPM did not answer within the bound that applies to the command."""


class ResponseFormatError(TransportError):
    """The TPM's answer is not a well-formed TPM 2.0 response."""


class BusError(TransportError):
    """A bus (SPI, I2C, CAN, serial) reported an error or an impossible state."""


class NotSupportedError(HarnessError):
    """The target or transport cannot perform the requested operation."""


class StoreError(HarnessError):
    """The results store could not be written or read."""
