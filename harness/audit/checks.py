"""The audit's checks as verdicts: one :class:`CheckOutcome` per check.

Used by ``tpmhil audit`` (:mod:`harness.audit.runner`) and by the
``security`` suites, so both judge a chip the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.audit import ekcert, evidence, firmware, nonce_timing, refprobes, roca
from harness.audit.catalogue import Catalogue, Match
from harness.audit.evidence import figure
from harness.errors import HarnessError

PASS, FAIL, NOT_RUN, INCONCLUSIVE, ERROR = "pass", "FAIL", "not run", "inconclusive", "ERROR"
INCOMPLETE = "incomplete"
#: Internal verdicts -> contract 5's security verdicts.
EVIDENCE_VERDICT = {PASS: "pass", FAIL: "fail", NOT_RUN: "not run", INCONCLUSIVE: "incomplete",
                    INCOMPLETE: "incomplete", ERROR: "incomplete"}

#: Requirement ids each check gives evidence for (reports/catalogue/requirements.yaml).
REQUIREMENTS = {
    "advisories": ("IEC62443-4-2:CR 4.3", "IEC62443-4-2:CR 1.9"),
    "roca": ("IEC62443-4-2:CR 4.3", "IEC62443-4-2:CR 1.9", "FIPS140-3:approved-algorithms"),
    "nonce_timing": ("IEC62443-4-2:CR 4.3", "IEC62443-4-2:CR 1.9", "FIPS140-3:approved-algorithms"),
    "reference_probes": ("IEC62443-4-2:CR 4.3", "IEC62443-4-2:CR 7.1", "FIPS140-3:error-states"),
    "ek_credentials": ("IEC62443-4-2:CR 1.9", "IEC62443-4-2:CR 1.8", "IEC62443-4-2:EDR 3.12"),
}


@dataclass
class CheckOutcome:
    """One check's verdict with the figures behind it."""

    name: str
    verdict: str
    summary: str
    details: Any = None
    requirements: tuple[str, ...] = ()
    evidence: list[str] = field(default_factory=list)
    figures: dict[str, dict] = field(default_factory=dict)
    #: Why the measurement is simulated (None: a measurement of the chip).
    simulation: str | None = None

    @property
    def failed(self) -> bool:
        """A weakness or a check that could not complete: neither is a pass."""
        return self.verdict in (FAIL, ERROR)

    def to_dict(self) -> dict:
        return {"name": self.name, "verdict": self.verdict, "summary": self.summary,
                "details": self.details, "requirements": list(self.requirements),
                "evidence": self.evidence, "figures": self.figures,
                "simulation": self.simulation}

    def evidence_document(self, root: Path) -> dict:
        """This outcome as contract 5's ``evidence/security/<check>.json``."""
        return evidence.document(self.name, EVIDENCE_VERDICT.get(self.verdict, "incomplete"),
                                 self.figures, evidence.relative_plots(root, self.evidence),
                                 self.summary, self.simulation)

    def write_evidence(self, root: Path | None) -> Path | None:
        """Write the figures file into the results folder ``root`` (None: nowhere)."""
        if root is None:
            return None
        return evidence.write(Path(root), self.evidence_document(Path(root)))


def decoded_firmware(identity, profile_format: str | None) -> firmware.FirmwareVersion:
    rule = firmware.format_for(identity.manufacturer, profile_format)
    return firmware.decode(identity.firmware_version_1, identity.firmware_version_2, rule)


def check_advisories(catalogue: Catalogue, identity, profile_format: str | None) -> tuple[CheckOutcome, list[Match]]:
    """Match the chip's manufacturer and decoded firmware against the catalogue."""
    matches = catalogue.lookup(identity.manufacturer, identity.vendor, identity.firmware_version_1,
                               identity.firmware_version_2, profile_format)
    affected = [m for m in matches if m.status == "affected"]
    listed = [m for m in matches if m.status in ("affected", "fixed")]
    if affected:
        verdict = FAIL
        summary = "firmware listed as affected: " + ", ".join(
            f"{m.advisory.id} ({m.advisory.product}, {m.version})" for m in affected)
    else:
        verdict = PASS
        summary = (f"no version advisory lists {identity.manufacturer} firmware "
                   f"{decoded_firmware(identity, profile_format).text}")
        if listed:
            summary += "; at or past the fix of " + ", ".join(m.advisory.id for m in listed)
    details = [{"id": m.advisory.id, "status": m.status, "product": m.advisory.product,
                "title": m.advisory.title, "version": m.version, "check": m.advisory.check,
                "range": m.range.describe() if m.range else None, "source": m.advisory.source}
               for m in matches]
    figures = {
        "advisories_in_catalogue": figure(len(catalogue.advisories), "advisories",
                                          "entries the chip was looked up in"),
        "advisories_matched": figure(len(matches), "advisories", "entries naming this manufacturer"),
        "affected": figure(len(affected), "advisories", "entries listing this firmware as affected"),
        "fixed": figure(sum(m.status == "fixed" for m in matches), "advisories",
                        "entries whose fix this firmware already has"),
    }
    return CheckOutcome("advisories", verdict, summary, details, REQUIREMENTS["advisories"],
                        figures=figures), matches


def check_roca(esapi, identity=None) -> CheckOutcome:
    """ROCA fingerprint and badkeys' other offline checks on every RSA key the chip produced here."""
    if identity is not None and "rsa" not in identity.algorithms:
        return CheckOutcome("roca", NOT_RUN, "the chip offers no RSA", [], REQUIREMENTS["roca"],
                            figures=_key_figures([]))
    indices = tuple(int(h, 16) for h in identity.ek_certificates) if identity is not None else ()
    keys = roca.chip_rsa_keys(esapi, indices)
    if not keys:
        return CheckOutcome("roca", NOT_RUN, "the chip produced no RSA keys (RSA not offered?)",
                            [], REQUIREMENTS["roca"], figures=_key_figures([]))
    findings = roca.check_moduli(keys)
    bad = [f for f in findings if f.vulnerable]
    summary = (f"{len(bad)} of {len(findings)} RSA keys are weak: "
               + ", ".join(f"{f.origin} ({', '.join(f.found)})" for f in bad)) if bad else \
        (f"{len(findings)} RSA keys tested ({', '.join(roca.CHECKS)}, badkeys offline), "
         "none has the ROCA fingerprint or another weakness")
    return CheckOutcome("roca", FAIL if bad else PASS, summary, [f.to_dict() for f in findings],
                        REQUIREMENTS["roca"], figures=_key_figures(findings))


def _key_figures(findings) -> dict:
    out = {"keys_tested": figure(len(findings), "keys", "RSA public keys the chip produced here"),
           "keys_weak": figure(sum(f.vulnerable for f in findings), "keys",
                               "keys flagged by any check")}
    for name in roca.CHECKS:
        out[f"flagged_{name}"] = figure(sum(name in f.found for f in findings), "keys",
                                        f"keys flagged by badkeys' {name} check")
    return out


def offered_schemes(identity) -> list[str]:
    """EC schemes whose nonce the audit can recover, that the chip offers on P-256."""
    if "nist_p256" not in identity.ecc_curves:
        return []
    return [s for s in nonce_timing.SCHEMES if s in identity.algorithms]


def latency_bound(profile) -> tuple[float | None, str]:
    """The profile's TPM2_Sign bound in seconds and where it comes from."""
    if profile is None:
        return None, ""
    worst = (profile.latency_ms.get("TPM2_Sign") or {}).get("worst")
    if worst:
        return worst / 1000.0, f"profile {profile.name}: latency_ms.TPM2_Sign.worst"
    code = nonce_timing.TPM_CC_SIGN
    return profile.durations.bound(code), \
        f"profile {profile.name}: durations_ms.{profile.durations.class_of(code)}"


def check_nonce_timing(esapi, transport, identity, samples: int,
                       alpha: float = nonce_timing.DEFAULT_ALPHA,
                       floor_us_per_bit: float = nonce_timing.DEFAULT_FLOOR_US_PER_BIT,
                       plot_path: Path | None = None, schemes: list[str] | None = None, *,
                       budget_s: float | None = nonce_timing.DEFAULT_SUITE_BUDGET_S,
                       profile=None, progress: Callable[[str], None] | None = None) -> list[CheckOutcome]:
    """TPM-Fail timing test per EC scheme; one plot for all schemes.

    ``samples`` caps the signatures per scheme; the power analysis and the
    stopping rule usually need fewer. ``budget_s`` is shared by the schemes
    (time one leaves is the next one's). ``profile``: its TPM2_Sign bound
    fails a slow chip after a few signatures.
    """
    from harness.audit.leaky_transport import simulated_leak

    schemes = offered_schemes(identity) if schemes is None else schemes
    simulation = simulated_leak(transport)
    if not schemes:
        return [CheckOutcome("nonce_timing", NOT_RUN, "the chip offers no ECDSA/ECSchnorr on P-256",
                             None, REQUIREMENTS["nonce_timing"], simulation=simulation)]
    bound_s, bound_source = latency_bound(profile)
    out, pairs = [], []
    deadline = time.monotonic() + budget_s if budget_s is not None else None
    for i, scheme in enumerate(schemes):
        share = None if deadline is None else \
            max(1.0, round((deadline - time.monotonic()) / (len(schemes) - i), 1))
        plan = nonce_timing.Plan(max_samples=samples, alpha=alpha, floor_us_per_bit=floor_us_per_bit,
                                 budget_s=share, latency_bound_s=bound_s, latency_source=bound_source,
                                 progress=progress)
        try:
            data, res = nonce_timing.run_sequential(esapi, transport, scheme, plan)
        except HarnessError as exc:
            out.append(CheckOutcome(f"nonce_timing:{scheme}", INCONCLUSIVE, str(exc), None,
                                    REQUIREMENTS["nonce_timing"], simulation=simulation))
            continue
        if res.samples:
            pairs.append((data, res))
        # Out of budget or samples without a clear answer: incomplete, never a pass.
        verdict = {"leaks": FAIL, "no leak": PASS, "too slow": FAIL}.get(res.verdict, INCOMPLETE)
        out.append(CheckOutcome(f"nonce_timing:{scheme}", verdict, _timing_summary(res),
                                res.to_dict(), REQUIREMENTS["nonce_timing"],
                                figures=_timing_figures(res), simulation=simulation))
    if plot_path is not None and pairs:
        from harness.audit.nonce_plot import plot

        try:
            plot(pairs, plot_path, simulation)
        except ModuleNotFoundError as exc:  # the figure is optional; the verdict is not
            if exc.name != "matplotlib":
                raise
            return out   # no plot without matplotlib (pip install 'tpm-hil[audit]')
        for o in out:
            o.evidence.append(str(plot_path))
    return out


def _timing_summary(res) -> str:
    figures = (f"{res.us_per_bit:+.2f} µs per leading zero bit (floor {res.floor_us_per_bit:g}, "
               f"detectable at the planned power >= {res.resolvable_us_per_bit:.2f}), "
               f"Mann-Whitney p={res.p_value:.2g} "
               f"(alpha {res.alpha:g} over {res.looks} looks), n={res.samples} of "
               f"{res.planned_samples} planned "
               f"[{res.n_zero_class} with 0 / {res.n_high_class} with >=4 leading zeros], "
               f"{res.elapsed_s:.0f} s, host jitter IQR {res.jitter_iqr_us:.0f} µs")
    if res.verdict in ("too slow", "incomplete") or (res.verdict == "inconclusive" and res.reason):
        return res.reason + ("" if res.verdict == "too slow" else f"; {figures}")
    if res.verdict == "no leak":
        # The verdict rests on the confidence bound, not on the power-based detectable effect:
        # a bound below the floor rules out a leak at the floor even when that effect is larger.
        return (f"no leak: upper bound {res.upper_us_per_bit:.2f} µs/bit < floor "
                f"{res.floor_us_per_bit:g} µs/bit (stopping rule: the effect's one-sided upper "
                f"confidence bound is below the floor); {figures}")
    return f"{res.verdict}: {figures}"


def _timing_figures(res) -> dict:
    return {
        "samples": figure(res.samples, "signatures", "signatures timed (resent ones left out)"),
        "planned_samples": figure(res.planned_samples, "signatures",
                                  "sample size the power analysis asked for (capped)"),
        "p_value": figure(res.p_value, "", "one-sided Mann-Whitney U, >= 4 leading zeros slower"),
        "alpha": figure(res.alpha, "", f"significance level, split over {res.looks} looks"),
        "effect_us_per_bit": figure(res.us_per_bit, "µs/bit",
                                    "lower-quartile shift per leading zero bit of the nonce"),
        "floor_us_per_bit": figure(res.floor_us_per_bit, "µs/bit", "smallest effect called a leak"),
        "resolvable_us_per_bit": figure(res.resolvable_us_per_bit, "µs/bit",
                                        "smallest effect these samples detect (power 99 %)"),
        "upper_bound_us_per_bit": figure(res.upper_us_per_bit, "µs/bit",
                                         "one-sided upper confidence bound of the effect"),
        "zero_class": figure(res.n_zero_class, "signatures", "nonces without a leading zero bit"),
        "high_class": figure(res.n_high_class, "signatures", "nonces with >= 4 leading zero bits"),
        "jitter_iqr_us": figure(res.jitter_iqr_us, "µs", "interquartile range of signing times"),
        "sign_median_ms": figure(res.sign_median_ms, "ms", "median TPM2_Sign round trip"),
        "latency_bound_ms": figure(res.latency_bound_ms, "ms", "the profile's TPM2_Sign bound"),
        "elapsed_s": figure(round(res.elapsed_s, 1), "s", "wall time of this scheme"),
        "budget_s": figure(None if res.budget_s is None else round(res.budget_s, 1), "s",
                           "wall-time budget of this scheme"),
        "resent": figure(res.resent, "signatures", "signatures the TPM asked to resend (untimed)"),
    }


def check_reference_probes(transport, esapi) -> CheckOutcome:
    """CVE-2023-1017/1018 and CVE-2025-2884 probes, each followed by a health check."""
    run = refprobes.run_probes(transport, esapi)
    bad = [r for r in run.results if not r.ok]
    if bad:
        summary = "; ".join(f"{r.name}: {r.rc_name}" + (f" ({r.note})" if r.note else "")
                            + ("" if r.healthy else f", chip unhealthy after: {r.health_detail}")
                            for r in bad)
    else:
        summary = (f"{len(run.results)} probes answered as a fixed chip does "
                   f"({', '.join(sorted({r.rc_name for r in run.results if r.rc}))}); "
                   "chip healthy after each")
    controls = [r for r in run.results if r.name.startswith("control")]
    figures = {
        "probes_sent": figure(len(run.results), "commands", "probe and control commands sent"),
        "probes_refused": figure(sum(r.ok for r in run.results if r not in controls), "commands",
                                 "malformed probes answered as a fixed chip does"),
        "controls_ok": figure(sum(r.ok for r in controls), "commands",
                              "well-formed controls through the same path that succeeded"),
        "healthy_after": figure(sum(r.healthy for r in run.results), "probes",
                                "probes after which the chip passed the health check"),
    }
    return CheckOutcome("reference_probes", FAIL if bad else PASS, summary,
                        [r.to_dict() for r in run.results], REQUIREMENTS["reference_probes"],
                        figures=figures)


def check_ek_credentials(esapi, identity, roots) -> CheckOutcome:
    """Every EK certificate in NV against the TCG EK Credential Profile."""
    indices = [int(h, 16) for h in identity.ek_certificates]
    if not indices:
        return CheckOutcome("ek_credentials", FAIL, "no EK certificate in NV (EK Credential "
                            "Profile §2.2.1.4 indices)", [], REQUIREMENTS["ek_credentials"],
                            figures=_cert_figures([], roots))
    findings = ekcert.check_ek_certificates(esapi, indices, roots)
    bad = [(f, c) for f in findings for c in f.checks if not c.ok]
    summary = "; ".join(f"0x{f.index:08x} {c.name}: {c.detail}" for f, c in bad) if bad else \
        f"{len(findings)} EK certificates meet the profile: " + ", ".join(
            f"0x{f.index:08x} ({f.kind})" for f in findings)
    return CheckOutcome("ek_credentials", FAIL if bad else PASS, summary,
                        [f.to_dict() for f in findings], REQUIREMENTS["ek_credentials"],
                        figures=_cert_figures(findings, roots))


def _cert_figures(findings, roots) -> dict:
    chains = [c for f in findings for c in f.checks if c.name == "chain"]
    return {"certs_checked": figure(len(findings), "certificates", "EK certificates read from NV"),
            "certs_failing": figure(sum(not f.ok for f in findings), "certificates",
                                    "certificates breaking a profile rule"),
            "chains_verified": figure(sum(c.ok for c in chains), "chains",
                                      "chains verified to a trusted root (cryptography.x509.verification)"),
            "trust_anchors": figure(len(roots), "certificates", "roots and intermediates supplied")}
