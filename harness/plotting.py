"""The harness's one way to draw a figure: matplotlib on the Agg backend, saved to a
file or to a PNG data URI, closed afterwards, and marked SIMULATION when its data
are not a measurement.

matplotlib is imported only when a plot is drawn (it is an optional, heavy
import; a bench host without a display must never need one). Used by the HTML
report (:mod:`reports.plots`), the rig campaign analysis
(:mod:`rigs.campaign.analysis`) and the security audit's figures
(:mod:`harness.audit.nonce_plot`).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

SIMULATION = "SIMULATION"


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def close(fig) -> None:
    """Release a figure (pyplot keeps every open figure alive otherwise)."""
    pyplot().close(fig)


def save(fig, path: str | Path, dpi: int = 90, **savefig) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix) and close it, even on error."""
    path = Path(path)
    try:
        fig.savefig(path, dpi=dpi, **savefig)
    finally:
        close(fig)
    return path


def png_data_uri(fig, dpi: int = 90) -> str:
    """``fig`` as a ``data:image/png;base64,...`` URI (tight box, no software stamp, so
    the same data give the same bytes), closed afterwards."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    finally:
        close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def mark_simulation(fig, reason: str | None) -> None:
    """Across a figure of simulated data: a large SIMULATION watermark and the reason as
    its suptitle, so it can never be read as a measurement. Nothing when ``reason`` is
    None (a real measurement)."""
    if not reason:
        return
    fig.text(0.5, 0.5, SIMULATION, fontsize=64, color="red", alpha=0.25, ha="center",
             va="center", rotation=20, weight="bold")
    fig.suptitle(f"{SIMULATION}: {reason}", color="red", fontsize=10)


def simulation_title(title: str, reason: str | None) -> str:
    """A panel title prefixed with SIMULATION when the data are simulated."""
    return f"{SIMULATION} - {title}" if reason else title
