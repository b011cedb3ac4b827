"""Allure epic/feature/story labels from the requirement catalogue.

The pytest plugin calls :func:`labels_for` once per test with the ids of its
``requirement`` marker and the names of its other markers, and adds each
returned ``(name, value)`` pair as an Allure label, so Allure's Behaviors view
groups tests as standard (epic) > foundational requirement or FIPS area
(feature) > requirement (story).
"""

from __future__ import annotations

from reports.catalogue import Catalogue, Requirement, load_catalogue

EPIC_TITLES = {"IEC62443-4-2": "IEC 62443-4-2", "FIPS140-3": "FIPS 140-3"}
UNCATALOGUED_EPIC = "Uncatalogued requirements"


def _labels(req: Requirement) -> list[tuple[str, str]]:
    return [("epic", EPIC_TITLES.get(req.standard, req.standard)),
            ("feature", req.group_title),
            ("story", f"{req.clause} {req.title}" if req.standard == "IEC62443-4-2"
             else f"{req.title} [{req.clause}]")]


def labels_for(requirements: list[str], markers: list[str],
               catalogue: Catalogue | None = None) -> list[tuple[str, str]]:
    """Allure labels for one test.

    Args:
        requirements: ids from the test's ``requirement`` marker, e.g.
            ``["IEC62443-4-2:CR 3.4", "FIPS140-3:self-tests"]``.
        markers: the test's marker names (``kat``, ``negative``...); markers the
            catalogue lists as evidence for an entry label the test with it too.
        catalogue: another catalogue than the shipped one.

    Returns:
        ``(label name, value)`` pairs without duplicates, in a stable order; an
        id the catalogue does not know is labelled under the epic
        ``Uncatalogued requirements`` so that it stays visible.
    """
    cat = catalogue or load_catalogue()
    out: list[tuple[str, str]] = []
    for req_id in requirements:
        req = cat.lookup(req_id)
        pairs = _labels(req) if req else [("epic", UNCATALOGUED_EPIC), ("story", req_id)]
        out.extend(pairs)
    for marker in markers:
        for req in cat.by_marker(marker):
            out.extend(_labels(req))
    seen: set[tuple[str, str]] = set()
    return [p for p in out if not (p in seen or seen.add(p))]
