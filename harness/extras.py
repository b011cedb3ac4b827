"""Which optional extra (``pip install 'tpm-hil[EXTRA]'``) brings which import.

The core install runs the suites on swtpm; buses, rigs, the audit's extra
checks, reports and the lab come with extras. Code that meets a missing
optional package turns the ImportError into one line naming the extra.
"""

from __future__ import annotations

#: Import names of optional packages -> the extra that installs them.
EXTRAS = {
    "can": "bus", "isotp": "bus", "pyftdi": "bus", "spidev": "bus", "smbus2": "bus",
    "serial": "bus", "cobs": "bus", "sliplib": "bus",
    "pyvisa": "rigs", "pyvisa_py": "rigs", "pymodbus": "rigs",
    "badkeys": "audit",
    "trestle": "reports", "openpyxl": "reports", "matplotlib": "reports",
    "labgrid": "lab", "psycopg": "lab", "grpc": "lab", "psutil": "lab",
    "pyarrow": "parquet", "hypothesis": "dev",
}


def extra_for(exc: BaseException, default_matplotlib: str = "reports") -> tuple[str, str] | None:
    """(package, extra) when ``exc`` is an optional package that is not installed, else None."""
    if not isinstance(exc, ModuleNotFoundError):
        return None
    top = (exc.name or "").split(".")[0]
    if top == "matplotlib":
        return top, default_matplotlib
    extra = EXTRAS.get(top)
    return (top, extra) if extra else None


def advice(exc: BaseException, default_matplotlib: str = "reports") -> str | None:
    """``needs the Python package 'can' ...: pip install 'tpm-hil[bus]'``, or None."""
    found = extra_for(exc, default_matplotlib)
    if found is None:
        return None
    package, extra = found
    return (f"needs the Python package '{package}', which is not installed: "
            f"pip install 'tpm-hil[{extra}]'")
