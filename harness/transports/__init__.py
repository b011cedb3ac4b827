"""Transports: carry one TPM command and its response, within a bound.

:class:`~harness.transports.base.Transport` is the seam under everything;
:mod:`harness.transports.tcti` puts tpm2-pytss ESAPI on top of any transport.
"""

from harness.transports.base import BusCounters, Transport

__all__ = ["Transport", "BusCounters"]
