"""harness.plotting: Agg figures saved and closed, data URIs stable, SIMULATION marks."""

from __future__ import annotations

import base64

import pytest

from harness import plotting


def _figure():
    plt = plotting.pyplot()
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [1, 3, 2])
    return fig


def test_backend_is_agg_and_saved_figures_are_closed(tmp_path):
    import matplotlib

    plt = plotting.pyplot()
    assert matplotlib.get_backend().lower() == "agg"
    out = plotting.save(_figure(), tmp_path / "a.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == []


def test_a_failed_save_still_closes_the_figure(tmp_path):
    plt = plotting.pyplot()
    with pytest.raises(OSError):
        plotting.save(_figure(), tmp_path / "missing" / "a.png")
    assert plt.get_fignums() == []


def test_png_data_uri_is_a_png_and_the_same_for_the_same_data():
    first, second = plotting.png_data_uri(_figure()), plotting.png_data_uri(_figure())
    prefix = "data:image/png;base64,"
    assert first.startswith(prefix) and first == second
    assert base64.b64decode(first[len(prefix):])[:4] == b"\x89PNG"
    assert plotting.pyplot().get_fignums() == []


def test_simulated_figures_carry_the_label_and_measurements_do_not(tmp_path, monkeypatch):
    import matplotlib

    monkeypatch.setitem(matplotlib.rcParams, "svg.fonttype", "none")  # text stays text
    sim = _figure()
    plotting.mark_simulation(sim, "injected 30 µs/bit")
    sim.axes[0].set_title(plotting.simulation_title("ecdsa", "injected"))
    plotting.save(sim, tmp_path / "sim.svg")
    real = _figure()
    plotting.mark_simulation(real, None)
    real.axes[0].set_title(plotting.simulation_title("ecdsa", None))
    plotting.save(real, tmp_path / "real.svg")
    sim_svg, real_svg = (tmp_path / "sim.svg").read_text(), (tmp_path / "real.svg").read_text()
    assert sim_svg.count("SIMULATION") == 3  # watermark, suptitle, panel title
    assert "injected 30 µs/bit" in sim_svg
    assert "SIMULATION" not in real_svg
