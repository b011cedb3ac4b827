"""Compliance reports: IEC 62443-4-2 and FIPS 140-3 evidence from results folders.

Builders read only from results folders (the store and the files beside
it), never from live targets. :func:`build_package` writes the whole signed
evidence package; :func:`verify_package` checks one.
"""

from reports.manifest import verify_package
from reports.package import build_package

__all__ = ["build_package", "verify_package"]
