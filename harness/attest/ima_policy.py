"""IMA verdicts: template hashes, PCR 10 replay, boot_aggregate, and the lab's allowlist.

The allowlist is a YAML or JSON file the lab keeps per image::

    unknown: fail            # files the list does not name: fail (default) or report
    exclude: ["^/tmp/", "^/var/log/"]      # path regexes never judged
    files:                   # keylime's runtime policy key "hashes" is read too
      /usr/bin/bash: ["sha256:9f86d08...", "sha256:..."]   # one or more allowed digests
      /etc/ld.so.cache: [3a7bd3e2360a3d...]                # bare hex: any algorithm of that size

A file whose digest is not among its allowed ones is *changed*; a file the
list does not name is *unknown*. Both are reported by path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.attest import ima as imalib
from harness.attest.flow import FAIL, NOT_RUN, PASS, Stage
from harness.attest.replay import expected_values, replay
from harness.errors import ConfigError
from harness.yaml_file import load_yaml

MAX_ALLOWLIST = 64 * 1024 * 1024


class AllowlistError(ConfigError):
    """The allowlist is unreadable or has a bad field (named in the message)."""


@dataclass
class Allowlist:
    files: dict[str, list[tuple[str | None, bytes]]]
    exclude: list[re.Pattern[str]]
    unknown_fails: bool
    source: str

    def excluded(self, path: str) -> bool:
        return any(p.search(path) for p in self.exclude)


def load_allowlist(path: str | Path) -> Allowlist:
    p = Path(path)
    if p.suffix == ".json":
        try:
            with open(p, "rb") as fh:
                raw = fh.read(MAX_ALLOWLIST + 1)
            if len(raw) > MAX_ALLOWLIST:
                raise AllowlistError(f"allowlist {p}: larger than {MAX_ALLOWLIST} bytes")
            doc = json.loads(raw)
        except OSError as exc:
            raise AllowlistError(f"allowlist {p}: cannot read: {exc.strerror}") from exc
        except ValueError as exc:
            raise AllowlistError(f"allowlist {p}: not valid JSON: {exc}") from exc
    else:
        doc = load_yaml(p, "allowlist", AllowlistError)
    return parse_allowlist(doc, str(p))


def parse_allowlist(doc: object, source: str = "<allowlist>") -> Allowlist:
    def bad(where: str, problem: str) -> AllowlistError:
        return AllowlistError(f"allowlist {source}: {where}: {problem}")

    if not isinstance(doc, dict):
        raise bad("top level", "must be a mapping with 'files'")
    files_doc = doc.get("files", doc.get("hashes"))
    if not isinstance(files_doc, dict):
        raise bad("files", "must map each path to a list of allowed digests")
    files: dict[str, list[tuple[str | None, bytes]]] = {}
    for path, digests in files_doc.items():
        if isinstance(digests, str):
            digests = [digests]
        if not isinstance(digests, list) or not digests:
            raise bad(f"files[{path!r}]", "must be a non-empty list of digests")
        allowed = []
        for d in digests:
            alg, sep, hexdigest = str(d).rpartition(":")
            try:
                allowed.append((alg if sep else None, bytes.fromhex(hexdigest)))
            except ValueError:
                raise bad(f"files[{path!r}]", f"{d!r} is not [alg:]hex") from None
        files[str(path)] = allowed
    excludes = []
    for i, pattern in enumerate(doc.get("exclude") or []):
        try:
            excludes.append(re.compile(str(pattern)))
        except re.error as exc:
            raise bad(f"exclude[{i}]", f"bad regular expression: {exc}") from None
    unknown = doc.get("unknown", "fail")
    if unknown not in ("fail", "report"):
        raise bad("unknown", f"must be 'fail' or 'report', got {unknown!r}")
    return Allowlist(files, excludes, unknown == "fail", source)


@dataclass
class ImaVerdict:
    """What the IMA stages concluded; ``pcr10`` is the replayed value per bank that
    matched the quote (or the modern-kernel replay when no quote value was there)."""

    entries: int
    pcr10: dict[str, bytes] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    template_errors: list[str] = field(default_factory=list)
    violations: int = 0

    def to_dict(self) -> dict:
        return {"entries": self.entries, "violations": self.violations,
                "pcr10": {b: v.hex() for b, v in self.pcr10.items()},
                "changed": self.changed, "unknown": self.unknown,
                "template_errors": self.template_errors}


def judge_allowlist(ima: imalib.ImaList, allow: Allowlist) -> tuple[list[str], list[str]]:
    """(changed, unknown) file lines, each naming the path and its digest."""
    changed, unknown = [], []
    for e in ima.entries:
        if e.violation or e.path == "boot_aggregate" or allow.excluded(e.path):
            continue
        allowed = allow.files.get(e.path)
        if allowed is None:
            unknown.append(f"{e.path} ({e.file_alg}:{e.file_hash.hex()}) is not in the "
                           "allowlist")
            continue
        if not any(d == e.file_hash and (a is None or a == e.file_alg) for a, d in allowed):
            listed = ", ".join(f"{a + ':' if a else ''}{d.hex()[:16]}..." for a, d in allowed)
            changed.append(f"{e.path}: {e.file_alg}:{e.file_hash.hex()} is not an allowed "
                           f"digest ({listed})")
    return changed, unknown


def _replay_stage(ima, quoted10: dict[str, bytes], verdict: ImaVerdict) -> Stage:
    if not quoted10:
        for bank in ("sha1", "sha256"):
            verdict.pcr10[bank] = imalib.replay_pcr(ima, bank)
        return Stage("ima: replay vs PCR 10", NOT_RUN, "no quoted PCR 10 value to compare "
                     "with (quote PCR 10 in the banks of the log)")
    details, bad = [], []
    for bank, chip in sorted(quoted10.items()):
        modern, legacy = imalib.replay_pcr(ima, bank), imalib.replay_pcr(ima, bank, legacy=True)
        if chip == modern:
            verdict.pcr10[bank] = modern
            details.append(f"{bank}: replay equals the quoted PCR 10 (per-bank template hashes)")
        elif chip == legacy:
            verdict.pcr10[bank] = legacy
            details.append(f"{bank}: replay equals the quoted PCR 10 (SHA-1 template hashes "
                           "zero-padded: kernel before 5.8)")
        else:
            verdict.pcr10[bank] = modern
            bad.append(f"{bank}: replay {modern.hex()[:16]}... (padded-SHA-1 rule "
                       f"{legacy.hex()[:16]}...) != quoted PCR 10 {chip.hex()[:16]}...: the "
                       "list is altered or incomplete, or something else extended PCR 10")
    return Stage("ima: replay vs PCR 10", FAIL if bad else PASS, bad[0] if bad else
                 f"{len(ima.entries)} measurements replay to the quoted PCR 10 in "
                 f"{len(quoted10)} bank(s)", bad + details)


def _boot_aggregate_stage(ima, pcrs: dict[str, dict[int, bytes]]) -> Stage:
    first = next((e for e in ima.entries if e.path == "boot_aggregate"), None)
    if first is None:
        return Stage("ima: boot_aggregate", NOT_RUN, "the list has no boot_aggregate entry")
    bank = first.file_alg
    values = pcrs.get(bank)
    if not values:
        return Stage("ima: boot_aggregate", NOT_RUN, f"no {bank} PCRs 0-9 to compute it from")
    candidates = [imalib.boot_aggregate(values, bank, False)]
    if bank != "sha1":
        candidates.insert(0, imalib.boot_aggregate(values, bank, True))
    if first.file_hash in candidates:
        return Stage("ima: boot_aggregate", PASS, f"boot_aggregate {bank}:"
                     f"{first.file_hash.hex()[:16]}... is the hash of the boot's PCRs: the "
                     "runtime list belongs to this boot")
    return Stage("ima: boot_aggregate", FAIL, f"boot_aggregate {bank}:{first.file_hash.hex()[:16]}"
                 "... is not the hash of this boot's PCRs 0-7 (or 0-9): the list comes from "
                 "another boot")


def stage_check(ima_path: Path | None, allowlist_path: str | None, log):
    """A callable for :func:`harness.attest.offline.attest_offline`:
    ``check(quoted) -> (stages, ImaVerdict)``, ``quoted``: bank -> PCR -> value."""
    if ima_path is None:
        raise ConfigError("--ima-allowlist needs an IMA list: --ima-list FILE, or "
                          "ascii_runtime_measurements / binary_runtime_measurements in the "
                          "evidence folder")
    ima = imalib.read_ima_list(ima_path)
    allow = load_allowlist(allowlist_path) if allowlist_path else None

    def check(quoted: dict[str, dict[int, bytes]]) -> tuple[list[Stage], ImaVerdict]:
        verdict = ImaVerdict(len(ima.entries))
        tc = imalib.check_template_hashes(ima)
        verdict.template_errors, verdict.violations = tc.bad, len(tc.violations)
        notes = [f"{len(tc.violations)} measurement violation(s) (listed as zeros, extended "
                 "as ff): " + ", ".join(e.label() for e in tc.violations[:5])] \
            if tc.violations else []
        stages = [Stage("ima: template hashes", FAIL if tc.bad else PASS,
                        tc.bad[0] if tc.bad else f"{len(ima.entries) - len(tc.violations)} "
                        f"{ima.template_hash_alg} template hashes recomputed from their fields",
                        tc.bad + notes)]
        stages.append(_replay_stage(ima, {b: v[10] for b, v in quoted.items() if 10 in v},
                                    verdict))
        pcrs = {b: dict(v) for b, v in quoted.items()}
        for bank, values in expected_values(log, replay(log), list(range(10))).items():
            for p, value in values.items():
                pcrs.setdefault(bank, {}).setdefault(p, value)
        stages.append(_boot_aggregate_stage(ima, pcrs))
        if allow is None:
            stages.append(Stage("ima: allowlist", NOT_RUN, "no --ima-allowlist"))
            return stages, verdict
        verdict.changed, verdict.unknown = judge_allowlist(ima, allow)
        failing = verdict.changed + (verdict.unknown if allow.unknown_fails else [])
        summary = (failing[0] if failing else
                   f"every measured file is allowed by {Path(allow.source).name}"
                   + (f" ({len(verdict.unknown)} unknown file(s) reported)"
                      if verdict.unknown else ""))
        stages.append(Stage("ima: allowlist", FAIL if failing else PASS, summary,
                            [f"changed: {c}" for c in verdict.changed] +
                            [f"unknown: {u}" for u in verdict.unknown]))
        return stages, verdict

    return check
