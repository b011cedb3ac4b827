"""Watlow F4T controller over Modbus TCP or RTU (pymodbus).

Values are IEEE-754 32-bit floats over two holding registers; each control
loop's block is 160 registers apart (F4T Modbus data map): set point at
2782 + (N-1)*160, process value at 2820 + (N-1)*160. The word order of the
float is a controller setting; match it with ``word_order=big|little`` in the
address. Ramping on the F4T is a profile feature, not a register here.

Addresses: ``modbus-tcp://HOST[:502]?unit=1&loop=1`` or
``modbus-rtu:///dev/ttyUSB0?baud=9600&unit=1&loop=1``.
"""

from __future__ import annotations

import threading

from rigs.drivers.uri import parse_address
from rigs.errors import InstrumentError, InstrumentTimeoutError, RigConfigError
from rigs.safety import finite
from rigs.protocols.chamber import Chamber, ChamberReading

SET_POINT_BASE = 2782
PROCESS_VALUE_BASE = 2820
LOOP_STRIDE = 160


class WatlowF4T(Chamber):
    def __init__(self, name: str, address: str, timeout_s: float = 2.0) -> None:
        from pymodbus.client import ModbusSerialClient, ModbusTcpClient

        self.name = name
        addr = parse_address(address, name, ("modbus-tcp", "modbus-rtu"))
        self.unit = addr.int_param("unit", 1)
        self.loop = addr.int_param("loop", 1)
        self.word_order = addr.params.get("word_order", "big")
        if self.word_order not in ("big", "little"):
            raise RigConfigError(f"instrument {name!r}: word_order must be big or little")
        self._lock = threading.Lock()
        if addr.scheme == "modbus-tcp":
            self._client = ModbusTcpClient(addr.host, port=addr.port or 502, timeout=timeout_s,
                                           retries=0)
        else:
            self._client = ModbusSerialClient(addr.path, baudrate=addr.int_param("baud", 9600),
                                              timeout=timeout_s, retries=0)
        self._float = self._client.DATATYPE.FLOAT32
        if not self._client.connect():
            raise InstrumentError(name, f"cannot connect to {address}")
        self.read()  # a silent controller fails here, naming itself

    @property
    def set_point_register(self) -> int:
        return SET_POINT_BASE + (self.loop - 1) * LOOP_STRIDE

    @property
    def process_value_register(self) -> int:
        return PROCESS_VALUE_BASE + (self.loop - 1) * LOOP_STRIDE

    def _read_float(self, register: int) -> float:
        from pymodbus.exceptions import ModbusException

        with self._lock:
            try:
                rsp = self._client.read_holding_registers(register, count=2, device_id=self.unit)
            except ModbusException as exc:
                raise InstrumentTimeoutError(self.name, f"no answer reading register {register}: {exc}") from exc
        if rsp.isError():
            raise InstrumentError(self.name, f"register {register}: Modbus exception {rsp}")
        return float(self._client.convert_from_registers(rsp.registers, self._float,
                                                         word_order=self.word_order))

    def _write_float(self, register: int, value: float) -> None:
        from pymodbus.exceptions import ModbusException

        regs = self._client.convert_to_registers(float(value), self._float, word_order=self.word_order)
        with self._lock:
            try:
                rsp = self._client.write_registers(register, regs, device_id=self.unit)
            except ModbusException as exc:
                raise InstrumentTimeoutError(self.name, f"no answer writing register {register}: {exc}") from exc
        if rsp.isError():
            raise InstrumentError(self.name, f"register {register}: Modbus exception {rsp}")

    def set_temperature(self, celsius: float) -> None:
        self._write_float(self.set_point_register, finite(celsius, f"instrument {self.name!r}: set point"))

    def read(self) -> ChamberReading:
        return ChamberReading(temperature_c=self._read_float(self.process_value_register),
                              set_point_c=self._read_float(self.set_point_register))

    def close(self) -> None:
        self._client.close()
