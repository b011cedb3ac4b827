"""The nonce-timing plot: signing time against the nonce's leading zero bits.

A plot of a simulated leak (``--simulate-nonce-leak``) carries a SIMULATION
label across the figure and in every panel title, so it can never be read
as a measurement of the chip.
"""

from __future__ import annotations

from pathlib import Path

from harness.plotting import mark_simulation, pyplot, save, simulation_title


def plot(results: list, path: Path, simulation: str | None = None) -> None:
    """One panel per scheme; ``results`` holds (TimingSamples, LeakageResult) pairs.

    Args:
        simulation: why the data are simulated (None for a real measurement).
    """
    plt = pyplot()
    import numpy as np

    fig, axes = plt.subplots(1, max(1, len(results)), figsize=(6 * max(1, len(results)), 4.4),
                             squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (data, res) in zip(axes[0], results):
        z = np.asarray(data.zeros)
        t = np.asarray(data.times_s) * 1e6
        ax.scatter(z + rng.uniform(-0.25, 0.25, len(z)), t, s=3, alpha=0.3, label="signatures")
        xs = sorted(res.median_us_by_zeros)
        ax.plot(xs, [res.median_us_by_zeros[x] for x in xs], "r-o", label="median (classes >= 10)")
        if len(t):
            ax.set_ylim(np.percentile(t, 0.5) * 0.9, np.percentile(t, 95) * 1.1)
        ax.set_xlabel("leading zero bits of nonce k")
        ax.set_ylabel("TPM2_Sign round trip (µs)")
        title = (f"{data.scheme}: {res.verdict}, {res.us_per_bit:+.1f} µs/bit "
                 f"(floor {res.floor_us_per_bit:g}), p={res.p_value:.2g}, n={res.samples}")
        ax.set_title(simulation_title(title, simulation), fontsize=9)
        ax.legend(loc="upper left")
    mark_simulation(fig, simulation)
    fig.tight_layout()
    save(fig, path, dpi=110)
