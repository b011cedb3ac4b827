"""TPMs behind a gateway MCU on a CAN bus (ISO-TP) or a serial line.

- :mod:`.protocol`: the gateway message format (docs/gateway-protocol.md).
- :mod:`.link`: what carries whole messages (:class:`MessageLink`).
- :mod:`.isotp_link`: ISO 15765-2 over any python-can interface.
- :mod:`.serial_link`: SLIP or COBS framing over pyserial or a pty.
- :mod:`.transport`: :class:`CanTransport` / :class:`SerialTransport`, the host side.
- :mod:`.gateway`: the gateway simulator (MCU side), bridging to any target.
- :mod:`.faults`: fault injection for the simulator.
- :mod:`.bridge`: a simulator started with its link and backend target.
"""
