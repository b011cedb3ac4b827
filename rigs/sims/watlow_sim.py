"""Watlow F4T simulator: a pymodbus TCP server on loopback (SIMULATION).

Register map as in the F4T's Modbus data map: per loop N the set point
(32-bit float over two holding registers) at 2782 + (N-1)*160 and the process
value at 2820 + (N-1)*160. A read of the process value samples the thermal
plant; a write of the set point drives it.
"""

from __future__ import annotations

import asyncio
import threading

from pymodbus.client import ModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from harness.ports import free_port
from rigs.sims.base import InstrumentSim
from rigs.sims.physics import ThermalPlant

SET_POINT_BASE = 2782
PROCESS_VALUE_BASE = 2820
LOOP_STRIDE = 160
_FLOAT32 = ModbusTcpClient.DATATYPE.FLOAT32


def set_point_register(loop: int) -> int:
    return SET_POINT_BASE + (loop - 1) * LOOP_STRIDE


def process_value_register(loop: int) -> int:
    return PROCESS_VALUE_BASE + (loop - 1) * LOOP_STRIDE


class WatlowF4TSim(InstrumentSim):
    """Serves one F4T with ``loops`` control loops, each on its own ThermalPlant."""

    def __init__(self, plants: list[ThermalPlant] | None = None, unit: int = 1,
                 word_order: str = "big", rtu: bool = False) -> None:
        super().__init__()
        self.plants = plants or [ThermalPlant()]
        self.unit = unit
        self.word_order = word_order
        self.rtu = rtu
        self.port = free_port()
        self._modem = None
        if rtu:  # Modbus RTU framing (CRC-16) over a software null-modem pair of ptys
            from rigs.sims.null_modem import NullModem

            self._modem = NullModem()
            self.address = f"modbus-rtu://{self._modem.b}?baud=19200&unit={unit}&word_order={word_order}"
        else:
            self.address = f"modbus-tcp://127.0.0.1:{self.port}?unit={unit}&word_order={word_order}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusTcpServer | None = None
        self._ready = threading.Event()

    def _encode(self, value: float) -> list[int]:
        return ModbusTcpClient.convert_to_registers(value, _FLOAT32, word_order=self.word_order)

    def _decode(self, regs: list[int]) -> float:
        return float(ModbusTcpClient.convert_from_registers(regs, _FLOAT32,
                                                            word_order=self.word_order))

    async def _action(self, function_code: int, start_address: int, address: int, count: int,
                      current_registers: list[int], set_values) -> ExcCodes | None:
        if self.silent:
            await asyncio.sleep(3600)  # never answer; the client times out
        for n, plant in enumerate(self.plants, start=1):
            sp, pv = set_point_register(n), process_value_register(n)
            if set_values is not None and address <= sp < address + len(set_values):
                regs = list(set_values[sp - address: sp - address + 2])
                if len(regs) == 2:
                    plant.set(self._decode(regs))
            if set_values is None and address <= pv + 1 and pv < address + count:
                current_registers[pv - start_address: pv - start_address + 2] = \
                    self._encode(plant.read())
            if set_values is None and address <= sp + 1 and sp < address + count:
                current_registers[sp - start_address: sp - start_address + 2] = \
                    self._encode(plant.set_point_c)
        return None

    def start(self) -> "WatlowF4TSim":
        self._thread = threading.Thread(target=self._run, name="WatlowF4TSim", daemon=True)
        self._thread.start()
        if not self._ready.wait(10.0):
            raise RuntimeError("Watlow F4T simulator did not start")
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        top = process_value_register(len(self.plants)) + 2
        device = SimDevice(self.unit, simdata=[SimData(address=2700, count=top - 2700 + 8,
                                                       values=0, datatype=DataType.REGISTERS)],
                           action=self._action)
        if self._modem is not None:
            from pymodbus.server import ModbusSerialServer

            self._server = ModbusSerialServer(device, port=self._modem.a, baudrate=19200)
        else:
            self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
        await self._server.serve_forever(background=True)
        self._ready.set()
        while not self._stop.is_set():
            await asyncio.sleep(0.1)
        await self._server.shutdown()

    def stop(self) -> None:
        super().stop()
        if self._modem is not None:
            self._modem.close()
