"""Register-level virtual TPM chips for CI: ST33KTPM (SPI, I2C) and SLB9673 (I2C).

The slave side of the TCG PTP FIFO interface, with each chip's IDs, burstCount
and FIFO from its profile's ``tis:`` section, forwarding every completed
command to a real swtpm. A :class:`~harness.chips.faults.FaultPlan` injects
bus and chip faults and can be changed at run time (see docs/wiring.md,
"Fault injection").
"""

from harness.chips.faults import FaultPlan
from harness.chips.models import VirtualChip, make_chip

__all__ = ["FaultPlan", "VirtualChip", "make_chip"]
