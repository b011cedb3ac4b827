"""Rig set-up and campaign files: bad input gives one error naming file and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rigs.campaign.model import load_campaign
from rigs.errors import RigConfigError
from rigs.setup import load_setup

REPO = Path(__file__).resolve().parents[2]


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_setup_and_demo_campaign_load():
    setup = load_setup(REPO / "rigs/setups/sim-lab.yaml")
    assert {i.role for i in setup.instruments} == {"chamber", "supply"}
    c = load_campaign(REPO / "rigs/campaigns/demo-thermal.yaml")
    assert len(c.points) == 7 and c.points[2].point_id == "p002_T85_V2.97"
    assert [e.kind for e in c.points[5].events] == ["brown_out"]


@pytest.mark.parametrize("body, match", [
    ("instruments: {ch: {driver: watlow-f5t, address: 'modbus-tcp://h'}}", r"instruments\.ch\.driver.*watlow-f5t"),
    ("instruments: {ch: {driver: espec}}", r"instruments\.ch\.address: required"),
    ("instruments: {ch: {driver: espec, address: 'serial:///dev/x', baud: 9}}", r"instruments\.ch: unknown field.*baud"),
    ("instruments: {p: {driver: rs-hmp, address: x, ovp_v: high}}", r"instruments\.p\.ovp_v: expected a number"),
    ("instruments: [1]", "expected a mapping with an 'instruments'"),
    ("instruments: {a: {driver: espec, address: x}, b: {driver: simserv, address: y}}", "more than one chamber"),
])
def test_setup_errors_name_file_and_field(tmp_path, body, match):
    path = _write(tmp_path / "rig.yaml", body)
    with pytest.raises(RigConfigError, match=match) as info:
        load_setup(path)
    assert str(path) in str(info.value)


def _campaign(tmp_path: Path, extra: str) -> Path:
    _write(tmp_path / "rig.yaml", "instruments: {c: {driver: espec, address: 'serial:///dev/x'}}")
    return _write(tmp_path / "c.yaml", "name: t\nrig: rig.yaml\ntarget: swtpm\nsuites: [x.py]\n" + extra)


@pytest.mark.parametrize("extra, match", [
    ("points: [{temperature_c: hot}]", r"points\[0\]\.temperature_c: expected a number"),
    ("points: [{temp: 3}]", r"points\[0\]: unknown field.*temp"),
    ("points: [{temperature_c: 20, events: [{melt: {}}]}]", r"points\[0\]\.events\[0\]: unknown event 'melt'"),
    ("points: [{temperature_c: 20, events: [{brown_out: {level_v: 1}}]}]", r"brown_out: needs level_v and duration_s"),
    ("points: [{temperature_c: 200}]", r"outside the safety envelope"),
    ("points: []", r"points: expected a non-empty list"),
    ("points: [{temperature_c: 1}]\ncoupling: {fault_model: lying}", r"coupling\.fault_model"),
    ("defaults: {voltage_v: .nan}\npoints: [{temperature_c: 20}]",
     r": defaults\.voltage_v: nan is not a finite number"),
    ("defaults: {voltage_v: 3.3}\npoints: [{temperature_c: 20, voltage_v: .nan}]",
     r": points\[0\]\.voltage_v: nan is not a finite number"),
])
def test_campaign_errors_name_file_and_field(tmp_path, extra, match):
    path = _campaign(tmp_path, extra)
    with pytest.raises(RigConfigError, match=match) as info:
        load_campaign(path)
    assert str(path) in str(info.value)


def test_lists_expand_into_points_with_stable_ids(tmp_path):
    c = load_campaign(_campaign(tmp_path, "points: [{temperature_c: [-40, 85], voltage_v: 3.3, repetitions: 2}]"))
    assert [p.point_id for p in c.points] == ["p000_T-40_V3.3_r0", "p001_T-40_V3.3_r1",
                                              "p002_T85_V3.3_r0", "p003_T85_V3.3_r1"]


def test_xdist_inside_a_point_is_refused(tmp_path):
    path = _campaign(tmp_path, "points: [{temperature_c: 20, suites: ['suites -n 2']}]")
    with pytest.raises(RigConfigError, match=r"points\[0\]\.suites.*pytest-xdist"):
        load_campaign(path)
