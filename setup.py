"""Package layout; every other setting is in pyproject.toml.

The pytest plugin lives in the folder ``fixtures/`` (the layout the project
keeps) but imports as ``tpm_hil_fixtures``: PyPI's ``fixtures`` distribution,
common in test stacks, owns the top-level name ``fixtures``, and two
distributions cannot share one.
"""

from setuptools import find_packages, setup

PACKAGES = find_packages(include=["harness", "harness.*", "suites", "suites.*", "rigs", "rigs.*",
                                  "reports", "reports.*"])

setup(packages=[*PACKAGES, "tpm_hil_fixtures"], package_dir={"tpm_hil_fixtures": "fixtures"})
