"""The requirement catalogue: contents the issue asks for, aliases, clear errors."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from reports.allure_labels import UNCATALOGUED_EPIC, labels_for
from reports.catalogue import load_catalogue, parse_catalogue

IEC = ["CR 1.2", "CR 1.5 RE(1)", "CR 1.8", "CR 1.9 RE(1)", "CR 1.11", "CR 1.14", "CR 2.12", "CR 3.1",
       "CR 3.3", "CR 3.4", "CR 3.6", "CR 3.7", "CR 3.8", "CR 4.1", "CR 4.2", "CR 4.3", "EDR 3.12",
       "EDR 3.13", "EDR 3.14", "CR 7.1", "CR 7.2", "CR 7.4"]
FIPS = ["self-tests", "conditional-self-tests", "approved-algorithms", "approved-mode",
        "error-states", "efp-eft", "zeroisation"]


def test_catalogue_holds_every_required_entry() -> None:
    cat = load_catalogue()
    ids = {r.id for r in cat}
    assert {f"IEC62443-4-2:{c}" for c in IEC} | {f"FIPS140-3:{a}" for a in FIPS} <= ids
    assert {r.standard for r in cat} == {"IEC62443-4-2", "FIPS140-3"}


@pytest.mark.parametrize("alias,canonical", [
    ("iec62443-4-2:cr 1.5", "IEC62443-4-2:CR 1.5 RE(1)"),
    ("IEC62443-4-2 : CR  1.9", "IEC62443-4-2:CR 1.9 RE(1)"),
    ("FIPS140-3:kat", "FIPS140-3:approved-algorithms"),
    ("FIPS140-3:zeroization", "FIPS140-3:zeroisation"),
    ("FIPS140-3:self-tests-pre-operational", "FIPS140-3:self-tests"),
])
def test_ids_resolve_through_aliases(alias: str, canonical: str) -> None:
    assert load_catalogue().lookup(alias).id == canonical


def test_unknown_id_is_not_resolved() -> None:
    assert load_catalogue().lookup("IEC62443-4-2:CR 9.9") is None


def test_oscal_ids_are_tokens_and_unique() -> None:
    ids = [r.oscal_id for r in load_catalogue()]
    assert len(set(ids)) == len(ids)
    assert "iec62443-4-2_cr-1.5-re-1" in ids and "fips140-3_efp-eft" in ids


def _write(tmp_path, body: str):
    path = tmp_path / "cat.yaml"
    path.write_text("standards:\n  IEC62443-4-2:\n    title: t\n    groups: {FR 1: g}\n" + body)
    return path


def test_broken_entry_names_file_entry_and_field(tmp_path) -> None:
    path = _write(tmp_path, "requirements:\n  - {id: 'IEC62443-4-2:CR 1.2', group: FR 1, text: x}\n")
    with pytest.raises(ConfigError, match=r"cat.yaml: requirement 'IEC62443-4-2:CR 1.2': missing field 'title'"):
        parse_catalogue(path)


def test_unknown_group_and_duplicate_alias_are_refused(tmp_path) -> None:
    path = _write(tmp_path, "requirements:\n  - {id: 'IEC62443-4-2:CR 1.2', group: FR 9, title: a, text: x}\n")
    with pytest.raises(ConfigError, match="field 'group' 'FR 9'"):
        parse_catalogue(path)
    path = _write(tmp_path, "requirements:\n"
                  "  - {id: 'IEC62443-4-2:CR 1.2', group: FR 1, title: a, text: x}\n"
                  "  - {id: 'IEC62443-4-2:CR 1.3', aliases: ['iec62443-4-2:cr 1.2'], group: FR 1, title: b, text: y}\n")
    with pytest.raises(ConfigError, match="used twice"):
        parse_catalogue(path)


def test_allure_labels_follow_the_catalogue() -> None:
    labels = labels_for(["IEC62443-4-2:CR 3.4", "IEC62443-4-2:CR 9.9"], ["kat"])
    assert ("epic", "IEC 62443-4-2") in labels
    assert ("feature", "FR 3 System integrity") in labels
    assert ("story", "CR 3.4 Software and information integrity") in labels
    assert ("epic", UNCATALOGUED_EPIC) in labels and ("story", "IEC62443-4-2:CR 9.9") in labels
    # the kat marker is evidence for the approved-algorithms area
    assert ("story", "Approved algorithms with known-answer results [approved-algorithms]") in labels
    assert len(labels) == len(set(labels))
    assert labels_for([], ["functional"]) == []


def test_docs_list_every_canonical_id() -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "reports.md").read_text()
    missing = [r.id for r in load_catalogue() if f"`{r.id}`" not in docs]
    assert not missing, f"docs/reports.md does not list {missing}"
