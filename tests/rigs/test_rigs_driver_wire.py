"""Drivers' wire formats, pinned against the simulators over real channels."""

from __future__ import annotations

import struct

import pytest
from pymodbus.client import ModbusTcpClient

from rigs.drivers.espec import EspecChamber
from rigs.drivers.scpi_supply import ScpiSupply
from rigs.drivers.simserv import SimservChamber
from rigs.drivers.watlow_f4t import WatlowF4T
from rigs.errors import InstrumentError, InstrumentTimeoutError, RigConfigError
from rigs.sims.espec_sim import EspecSim
from rigs.sims.physics import ThermalPlant
from rigs.sims.scpi_supply_sim import ScpiSupplySim
from rigs.sims.simserv_sim import SimservSim
from rigs.sims.watlow_sim import WatlowF4TSim


def test_watlow_set_point_is_a_big_endian_float_at_2782_and_loop_2_is_160_further():
    plants = [ThermalPlant(noise_c=0.0), ThermalPlant(temperature_c=30.0, noise_c=0.0)]
    with WatlowF4TSim(plants) as sim:
        drv = WatlowF4T("chamber", sim.address.replace("unit=1", "unit=1&loop=2"))
        drv.set_temperature(-12.5)
        raw = ModbusTcpClient("127.0.0.1", port=sim.port, timeout=2)
        assert raw.connect()
        regs = raw.read_holding_registers(2782 + 160, count=2, device_id=1).registers
        assert struct.pack(">HH", *regs) == struct.pack(">f", -12.5)
        assert plants[1].set_point_c == -12.5 and plants[0].set_point_c == 23.0
        pv = raw.read_holding_registers(2820 + 160, count=2, device_id=1).registers
        assert abs(struct.unpack(">f", struct.pack(">HH", *pv))[0] - 30.0) < 1.0
        assert drv.read().set_point_c == -12.5
        raw.close()
        drv.close()


def test_espec_commands_and_replies(fast_plant):
    with EspecSim(fast_plant) as sim:
        drv = EspecChamber("espec", sim.address, humidity=True)
        drv.set_temperature(40.0)
        reading = drv.read()
        assert sim.requests == ["TEMP?", "HUMI?", "TEMP,S40.0", "MODE,CONSTANT", "TEMP?", "HUMI?"]
        assert reading.set_point_c == 40.0 and reading.humidity_pct is not None
        with pytest.raises(InstrumentError, match=r"'espec'.*TEMP,S500.0.*NA:OUT OF RANGE"):
            drv.set_temperature(500.0)
        drv.close()


def test_simserv_frames_use_0xb6_and_cr(fast_plant):
    assert SimservChamber.encode(11001, 1, 1, "25.00") == b"11001\xb61\xb61\xb625.00\r"
    with SimservSim(fast_plant) as sim:
        drv = SimservChamber("votsch", sim.address)
        drv.set_temperature(60.0)
        assert sim.requests[-2:] == [b"11001\xb61\xb61\xb660.00", b"14001\xb61\xb61\xb61"]
        assert drv.read().set_point_c == 60.0
        drv.close()


@pytest.mark.parametrize("model, expected", [
    ("keysight-e36xx", ["INST:NSEL 2", "VOLT 3.3000", "SYST:ERR?", "INST:NSEL 2", "CURR 0.5000",
                        "SYST:ERR?", "INST:NSEL 2", "OUTP ON", "SYST:ERR?"]),
    ("rigol-dp8xx", [":SOUR2:VOLT 3.3000", "SYST:ERR?", ":SOUR2:CURR 0.5000", "SYST:ERR?",
                     ":OUTP CH2,ON", "SYST:ERR?"]),
    ("rs-hmp", ["INST:NSEL 2", "VOLT 3.3000", "SYST:ERR?", "INST:NSEL 2", "CURR 0.5000",
                "SYST:ERR?", "INST:NSEL 2", "OUTP:CHAN ON", "SYST:ERR?"]),
])
def test_scpi_dialects_check_the_error_queue_after_every_write(model, expected):
    with ScpiSupplySim(model) as sim:
        psu = ScpiSupply("psu", sim.address, model, channel=2)
        start = len(sim.requests)
        psu.set_voltage(3.3)
        psu.set_current_limit(0.5)
        psu.output(True)
        assert sim.requests[start:] == expected
        m = psu.measure()
        assert m.output_on and abs(m.voltage_v - 3.3) < 0.01 and m.current_a > 0
        psu.close()


def test_rigol_apply_and_brown_out_dip_reaches_the_virtual_load():
    with ScpiSupplySim("rigol-dp8xx") as sim:
        psu = ScpiSupply("psu", sim.address, "rigol-dp8xx", channel=1)
        psu.apply(3.3, 0.5)
        assert ":APPL CH1,3.3000,0.5000" in sim.requests
        psu.output(True)
        psu.brown_out(1.8, 0.05)
        volts = [v for _, v in sim.plants[0].history]
        assert 1.8 in [round(v, 3) for v in volts], f"the dip to 1.8 V never reached the load: {volts}"
        assert round(volts[-1], 3) == 3.3, f"the supply did not return to 3.3 V: {volts[-1]}"
        psu.close()


def test_scpi_error_names_instrument_command_and_error():
    with ScpiSupplySim("keysight-e36xx") as sim:
        psu = ScpiSupply("bench-psu", sim.address, "keysight-e36xx", channel=1)
        with pytest.raises(InstrumentError, match=r"'bench-psu'.*'VOLT:BOGUS 1'.*-113"):
            psu.write("VOLT:BOGUS 1")
        psu.close()


def test_ovp_trips_the_output():
    with ScpiSupplySim("keysight-e36xx") as sim:
        psu = ScpiSupply("psu", sim.address, "keysight-e36xx")
        psu.set_ovp(4.0)
        psu.set_voltage(3.3)
        psu.output(True)
        psu.set_voltage(5.0)
        assert sim.plants[0].tripped and not psu.measure().output_on
        psu.close()


def test_silent_supply_names_itself():
    with ScpiSupplySim("keysight-e36xx") as sim:
        sim.silent = True
        with pytest.raises(InstrumentTimeoutError, match=r"'psu'.*\*IDN\?"):
            ScpiSupply("psu", sim.address, "keysight-e36xx", timeout_s=0.5)


def test_silent_chambers_name_themselves(fast_plant):
    with WatlowF4TSim([fast_plant]) as sim:
        sim.silent = True
        with pytest.raises(InstrumentTimeoutError, match="'f4t'"):
            WatlowF4T("f4t", sim.address, timeout_s=0.5)
    with EspecSim(fast_plant) as sim:
        sim.silent = True
        with pytest.raises(InstrumentTimeoutError, match=r"'espec'.*TEMP\?"):
            EspecChamber("espec", sim.address, timeout_s=0.5)
    with SimservSim(fast_plant) as sim:
        sim.silent = True
        with pytest.raises(InstrumentTimeoutError, match="'votsch'.*11004"):
            SimservChamber("votsch", sim.address, timeout_s=0.5)


def test_wrong_addresses_give_clear_errors(tmp_path):
    with pytest.raises(RigConfigError, match="'f4t'.*scheme 'tcp'.*modbus-tcp://"):
        WatlowF4T("f4t", "tcp://127.0.0.1:502")
    with ScpiSupplySim("keysight-e36xx") as sim:
        port = sim.port
    with pytest.raises(InstrumentError, match=r"'psu'"):
        ScpiSupply("psu", f"TCPIP::127.0.0.1::{port}::SOCKET", "keysight-e36xx", timeout_s=0.5)
    with pytest.raises(InstrumentError, match=r"'espec'.*cannot open /nonexistent/tty"):
        EspecChamber("espec", "serial:///nonexistent/tty")
    with pytest.raises(InstrumentError, match=r"'votsch'.*cannot connect"):
        SimservChamber("votsch", f"simserv://127.0.0.1:{port}", timeout_s=0.5)


def test_software_ramp_walks_the_set_point_in_steps(fast_plant):
    with SimservSim(fast_plant) as sim:
        drv = SimservChamber("votsch", sim.address)
        drv.ramp_to(25.0, c_per_min=60.0, step_s=0.05)  # 0.05 °C per step from 23 °C
        set_points = [float(r.split(b"\xb6")[3]) for r in sim.requests if r.startswith(b"11001")]
        assert set_points[0] == pytest.approx(23.05) and set_points[-1] == 25.0
        assert all(b - a == pytest.approx(0.05, abs=1e-3) for a, b in zip(set_points, set_points[1:]))
        drv.close()


def _crc16_modbus(frame: bytes) -> bytes:
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


def test_watlow_over_modbus_rtu_sends_crc_framed_write_multiple_registers():
    with WatlowF4TSim([ThermalPlant(noise_c=0.0)], unit=7, rtu=True) as sim:
        drv = WatlowF4T("f4t", sim.address)
        start = len(sim._modem.b_to_a)
        drv.set_temperature(-20.5)
        pdu = bytes([7, 0x10]) + (2782).to_bytes(2, "big") + (2).to_bytes(2, "big") + b"\x04" + \
            struct.pack(">f", -20.5)
        assert bytes(sim._modem.b_to_a[start:]) == pdu + _crc16_modbus(pdu)
        assert sim.plants[0].set_point_c == -20.5 and drv.read().set_point_c == -20.5
        drv.close()
