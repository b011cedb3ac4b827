"""The TCG PC Client PTP FIFO interface (TIS) over SPI and I2C.

:mod:`registers` holds the register map and bits, :mod:`spi_phy` and
:mod:`i2c_phy` frame register accesses on each bus, :mod:`transport` runs the
FIFO command protocol as a :class:`~harness.transports.base.Transport`, and
:mod:`cost` computes the protocol's minimum bus cost per command.
"""
