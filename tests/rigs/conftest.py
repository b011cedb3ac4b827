"""Shared helpers for the rigs tests: simulators on real channels."""

from __future__ import annotations

import pytest

from rigs.sims.physics import ThermalPlant


@pytest.fixture
def fast_plant() -> ThermalPlant:
    """A chamber that settles in about a second of wall time."""
    return ThermalPlant(ramp_c_per_min=60.0, time_scale=120.0, natural_freq=0.1, noise_c=0.0, seed=1)
