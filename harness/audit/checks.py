"""The audit's checks as verdicts: one :class:`CheckOutcome` per check.

Used by ``tpmhil audit`` (:mod:`harness.audit.runner`) and by the
``security`` suites, so both judge a chip the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.audit import ekcert, firmware, nonce_timing, refprobes, roca
from harness.audit.catalogue import Catalogue, Match
from harness.errors import HarnessError

PASS, FAIL, NOT_RUN, INCONCLUSIVE, ERROR = "pass", "FAIL", "not run", "inconclusive", "ERROR"

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

    @property
    def failed(self) -> bool:
        """A weakness or a check that could not complete: neither is a pass."""
        return self.verdict in (FAIL, ERROR)

    def to_dict(self) -> dict:
        return {"name": self.name, "verdict": self.verdict, "summary": self.summary,
                "details": self.details, "requirements": list(self.requirements),
                "evidence": self.evidence}


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
    return CheckOutcome("advisories", verdict, summary, details, REQUIREMENTS["advisories"]), matches


def check_roca(esapi, identity=None) -> CheckOutcome:
    """ROCA fingerprint on every RSA key the chip produced here."""
    if identity is not None and "rsa" not in identity.algorithms:
        return CheckOutcome("roca", NOT_RUN, "the chip offers no RSA", [], REQUIREMENTS["roca"])
    indices = tuple(int(h, 16) for h in identity.ek_certificates) if identity is not None else ()
    keys = roca.chip_rsa_keys(esapi, indices)
    if not keys:
        return CheckOutcome("roca", NOT_RUN, "the chip produced no RSA keys (RSA not offered?)",
                            [], REQUIREMENTS["roca"])
    findings = roca.check_moduli(keys)
    bad = [f for f in findings if f.vulnerable]
    summary = (f"{len(bad)} of {len(findings)} RSA keys carry the ROCA fingerprint: "
               + ", ".join(f.origin for f in bad)) if bad else \
        f"{len(findings)} RSA keys tested, none has the ROCA fingerprint"
    return CheckOutcome("roca", FAIL if bad else PASS, summary, [f.to_dict() for f in findings],
                        REQUIREMENTS["roca"])


def offered_schemes(identity) -> list[str]:
    """EC schemes whose nonce the audit can recover, that the chip offers on P-256."""
    if "nist_p256" not in identity.ecc_curves:
        return []
    return [s for s in nonce_timing.SCHEMES if s in identity.algorithms]


def check_nonce_timing(esapi, transport, identity, samples: int,
                       alpha: float = nonce_timing.DEFAULT_ALPHA,
                       floor_us_per_bit: float = nonce_timing.DEFAULT_FLOOR_US_PER_BIT,
                       plot_path: Path | None = None, schemes: list[str] | None = None) -> list[CheckOutcome]:
    """TPM-Fail timing test per EC scheme; one plot for all schemes."""
    schemes = offered_schemes(identity) if schemes is None else schemes
    if not schemes:
        return [CheckOutcome("nonce_timing", NOT_RUN, "the chip offers no ECDSA/ECSchnorr on P-256",
                             None, REQUIREMENTS["nonce_timing"])]
    out, pairs = [], []
    for scheme in schemes:
        try:
            data = nonce_timing.collect(esapi, transport, samples, scheme)
        except HarnessError as exc:
            out.append(CheckOutcome(f"nonce_timing:{scheme}", INCONCLUSIVE, str(exc), None,
                                    REQUIREMENTS["nonce_timing"]))
            continue
        res = nonce_timing.analyse(data, alpha, floor_us_per_bit)
        pairs.append((data, res))
        verdict = {"leaks": FAIL, "no leak": PASS}.get(res.verdict, INCONCLUSIVE)
        summary = (f"{res.verdict}: {res.us_per_bit:+.2f} µs per leading zero bit "
                   f"(floor {floor_us_per_bit:g}), Mann-Whitney p={res.p_value:.2g} "
                   f"(alpha {alpha:g}), n={res.samples} "
                   f"[{res.n_zero_class} with 0 / {res.n_high_class} with >=4 leading zeros], "
                   f"host jitter IQR {res.jitter_iqr_us:.0f} µs")
        out.append(CheckOutcome(f"nonce_timing:{scheme}", verdict, summary, res.to_dict(),
                                REQUIREMENTS["nonce_timing"]))
    if plot_path is not None and pairs:
        nonce_timing.plot(pairs, plot_path)
        for o in out:
            o.evidence.append(str(plot_path))
    return out


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
    return CheckOutcome("reference_probes", FAIL if bad else PASS, summary,
                        [r.to_dict() for r in run.results], REQUIREMENTS["reference_probes"])


def check_ek_credentials(esapi, identity, roots) -> CheckOutcome:
    """Every EK certificate in NV against the TCG EK Credential Profile."""
    indices = [int(h, 16) for h in identity.ek_certificates]
    if not indices:
        return CheckOutcome("ek_credentials", FAIL, "no EK certificate in NV (EK Credential "
                            "Profile §2.2.1.4 indices)", [], REQUIREMENTS["ek_credentials"])
    findings = ekcert.check_ek_certificates(esapi, indices, roots)
    bad = [(f, c) for f in findings for c in f.checks if not c.ok]
    summary = "; ".join(f"0x{f.index:08x} {c.name}: {c.detail}" for f, c in bad) if bad else \
        f"{len(findings)} EK certificates meet the profile: " + ", ".join(
            f"0x{f.index:08x} ({f.kind})" for f in findings)
    return CheckOutcome("ek_credentials", FAIL if bad else PASS, summary,
                        [f.to_dict() for f in findings], REQUIREMENTS["ek_credentials"])
