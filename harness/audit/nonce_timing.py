"""Nonce-timing leakage of EC signatures, the TPM-Fail way.

Moghimi, Sunar, Eisenbarth, Heninger, "TPM-FAIL: TPM meets Timing and
Lattice Attacks" (USENIX Security 2020), CVE-2019-16863: the ST33TPHF2x
firmware's ECDSA/ECSchnorr signing time grew with the bit length of the
secret nonce k, which leaks enough to recover the key by a lattice attack.

The check (their template phase): load a *known* P-256 key with
TPM2_LoadExternal (Part 3 §12.3), sign many random digests with TPM2_Sign
(Part 3 §20.2) sent as raw commands through the transport and timed by the
host, recover each nonce from the signature and the known key

* ECDSA (Part 1 §C.4.3 / FIPS 186-4 §6.4): s = k^-1 (z + r d)  ->  k = s^-1 (z + r d) mod n
* ECSchnorr (Part 1 §C.4.4, libtpms): s = k + r d  ->  k = s - r d mod n

and compare signing times between nonces with at least four leading zero bits
and nonces with none: a one-sided Mann-Whitney U test (scipy). The verdict
"leaks" needs both p < ``alpha`` and an effect above ``floor_us_per_bit`` (µs
per leading zero bit), so scheduler noise on a busy host cannot flag a chip.

The sample is bounded (:func:`run_sequential`): its size comes from a power
analysis on the first measurements (:mod:`harness.audit.sampling`), the check
stops as soon as the answer is clear, within a wall-time budget, and a chip
whose first signatures already break its profile's TPM2_Sign latency bound is
failed at once.

The known key (:data:`harness.audit.ec_sign.KNOWN_D`) is a public test value,
not a secret.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from cryptography.hazmat.primitives.asymmetric import ec

from harness.audit import raw, sampling
from harness.audit.ec_sign import (KNOWN_D, P256_N, SCHEMES, TPM_ALG_SHA256,  # noqa: F401 (re-exported)
                                   TPM_CC_SIGN, build_sign_command, leading_zero_bits,
                                   nonce_consistent, parse_sign_command, parse_sign_response,
                                   recover_nonce)
from harness.errors import HarnessError

#: Most signatures per scheme: the power analysis usually asks for fewer, and the
#: wall-time budget is the bound that matters on a noisy host.
DEFAULT_SAMPLES = 200_000
#: Wall-time budget of the whole check (all schemes): suites / ``tpmhil audit``.
DEFAULT_SUITE_BUDGET_S = 120.0
DEFAULT_AUDIT_BUDGET_S = 600.0
#: Signatures checked against the profile's latency bound before the statistics start.
LATENCY_PROBE = 3
DEFAULT_ALPHA = 1e-5
DEFAULT_FLOOR_US_PER_BIT = 2.0
HIGH_CLASS_MIN_ZEROS = 4


@dataclass
class TimingSamples:
    """Signing times and recovered nonces' leading zero bits for one scheme.

    ``resent`` counts signatures the TPM asked to be sent again (TPM_RC_RETRY
    and friends): their round trip includes the transport's pause, so they are
    left out of the timing.
    """

    scheme: str
    times_s: list[float] = field(default_factory=list)
    zeros: list[int] = field(default_factory=list)
    resent: int = 0


@dataclass
class LeakageResult:
    """The verdict for one scheme.

    Attributes:
        verdict: ``leaks``, ``no leak``, ``inconclusive`` (the sample cap was
            reached, or a class is too small, without a clear answer),
            ``incomplete`` (the wall-time budget ran out first) or ``too
            slow`` (TPM2_Sign broke the profile's latency bound).
        us_per_bit: time shift between the classes at their lower quartile,
            divided by the mean leading zero bits of the high class.
        jitter_iqr_us: interquartile range of the zero class's times (how
            noisy the host and link were; a smaller leak is hard to see).
        p_value: one-sided Mann-Whitney U p-value (high class slower).
        resolvable_us_per_bit: smallest effect these samples detect with the
            planned power at the look's alpha (the check's resolution).
        upper_us_per_bit: one-sided upper confidence bound of the effect.
        planned_samples: the power analysis's sample size (capped).
    """

    scheme: str
    samples: int
    verdict: str
    us_per_bit: float
    p_value: float
    alpha: float
    floor_us_per_bit: float
    n_zero_class: int
    n_high_class: int
    median_us_by_zeros: dict[int, float]
    slope_us_per_bit: float
    jitter_iqr_us: float = 0.0
    resolvable_us_per_bit: float = float("inf")
    upper_us_per_bit: float = float("inf")
    noise_us: float = float("inf")
    planned_samples: int = 0
    looks: int = 1
    elapsed_s: float = 0.0
    budget_s: float | None = None
    sign_median_ms: float = 0.0
    latency_bound_ms: float | None = None
    resent: int = 0
    reason: str = ""

    def to_dict(self) -> dict:
        out = dict(self.__dict__)
        for key, value in out.items():  # JSON has no infinity
            if isinstance(value, float) and value in (float("inf"), float("-inf")):
                out[key] = None
        return out


@dataclass
class Plan:
    """Bounds of one scheme's sampling.

    Attributes:
        max_samples: the cap on signatures, whatever the power analysis asks.
        budget_s: wall time for this scheme (None: no budget).
        latency_bound_s: the profile's TPM2_Sign bound; a median of the first
            :data:`LATENCY_PROBE` signatures above it fails the chip at once.
        latency_source: where the bound comes from, for the message.
        progress: called as ``progress(line)`` every ``progress_every_s``.
    """

    max_samples: int = DEFAULT_SAMPLES
    alpha: float = DEFAULT_ALPHA
    floor_us_per_bit: float = DEFAULT_FLOOR_US_PER_BIT
    beta: float = sampling.DEFAULT_BETA
    budget_s: float | None = None
    latency_bound_s: float | None = None
    latency_source: str = ""
    progress: Callable[[str], None] | None = None
    progress_every_s: float = 5.0


@contextmanager
def _signer(esapi, transport, scheme: str, verify_first: int = 8) -> Iterator[Callable[[], tuple[float, int, bool]]]:
    """Load the known key; yield ``sign() -> (seconds, leading zeros of k, clean)``.

    ``clean`` is False when the transport had to resend the command (its
    round trip then includes the pause). The first ``verify_first`` recovered
    nonces are checked against r, so a wrong recovery formula or a chip
    signing with another key is an error, not a silent wrong verdict.
    """
    from cryptography.hazmat.primitives import serialization as ser
    from tpm2_pytss import TSS2_Exception
    from tpm2_pytss.constants import ESYS_TR
    from tpm2_pytss.types import TPM2B_PUBLIC, TPM2B_SENSITIVE

    key = ec.derive_private_key(KNOWN_D, ec.SECP256R1())
    pem_priv = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    pem_pub = key.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
    try:
        handle = esapi.load_external(TPM2B_PUBLIC.from_pem(pem_pub), TPM2B_SENSITIVE.from_pem(pem_priv),
                                     ESYS_TR.RH_NULL)
    except TSS2_Exception as exc:
        raise HarnessError(f"TPM2_LoadExternal of the known P-256 key was refused ({exc}); the "
                           "timing test needs a key whose private part is known") from exc
    log = transport.log
    activity = getattr(log, "activity", None)
    count = [0]

    def sign() -> tuple[float, int, bool]:
        digest = os.urandom(32)
        cmd = build_sign_command(tpm_handle, digest, scheme)
        before = len(log)
        t0 = time.perf_counter()
        rsp = raw.exchange(transport, cmd)  # Transport.exchange resends on RETRY/YIELDED/TESTING
        elapsed = time.perf_counter() - t0
        clean = len(log) - before <= 1
        rc = raw.response_code(rsp)
        if rc != 0:
            from harness.tpm.names import rc_name
            raise HarnessError(f"TPM2_Sign with {scheme} on the known P-256 key failed: {rc_name(rc)}")
        _, r, s = parse_sign_response(rsp)
        k = recover_nonce(scheme, digest, r, s)
        if count[0] < verify_first and not nonce_consistent(scheme, digest, r, k):
            raise HarnessError(f"{scheme}: the recovered nonce does not reproduce r; the chip "
                               "does not sign as TPM 2.0 Part 1 Annex C describes, cannot test")
        count[0] += 1
        return elapsed, leading_zero_bits(k), clean

    try:
        tpm_handle = esapi.tr_get_tpm_handle(handle)
        if activity is not None:
            log.activity = f"audit:nonce_timing:{scheme}"
        yield sign
    finally:
        if activity is not None:
            log.activity = activity
        esapi.flush_context(handle)


def collect(esapi, transport, samples: int, scheme: str = "ecdsa",
            verify_first: int = 8) -> TimingSamples:
    """Sign exactly ``samples`` random digests and time each TPM2_Sign (no stopping rule)."""
    out = TimingSamples(scheme)
    with _signer(esapi, transport, scheme, verify_first) as sign:
        for _ in range(samples):
            elapsed, zeros, clean = sign()
            if clean:
                out.times_s.append(elapsed)
                out.zeros.append(zeros)
            else:
                out.resent += 1
    return out


def run_sequential(esapi, transport, scheme: str, plan: Plan) -> tuple[TimingSamples, LeakageResult]:
    """Sign until the answer is clear, the cap is reached or the budget runs out.

    The first :data:`LATENCY_PROBE` signatures are held against the profile's
    latency bound; then the data are analysed at each look of
    :func:`sampling.look_schedule` (alpha and beta split over the looks).
    """
    import numpy as np

    data = TimingSamples(scheme)
    looks = sampling.look_schedule(plan.max_samples)
    alpha_look, beta_look = plan.alpha / len(looks), plan.beta / len(looks)
    start = time.monotonic()
    deadline = start + plan.budget_s if plan.budget_s is not None else None
    next_progress = start + plan.progress_every_s
    result: LeakageResult | None = None
    planned = looks[0]
    resolves = "first look after the pilot"
    look_i = 0
    with _signer(esapi, transport, scheme) as sign:
        while True:
            elapsed, zeros, clean = sign()
            if clean:
                data.times_s.append(elapsed)
                data.zeros.append(zeros)
            else:
                data.resent += 1
            n = len(data.times_s)
            if n == LATENCY_PROBE and plan.latency_bound_s is not None:
                median = float(np.median(data.times_s))
                if median > plan.latency_bound_s:
                    result = _too_slow(data, plan, median, time.monotonic() - start)
                    break
            now = time.monotonic()
            if look_i < len(looks) and n >= looks[look_i]:
                look_i += 1
                result = analyse(data, plan.alpha, plan.floor_us_per_bit, beta=plan.beta,
                                 looks=len(looks), max_samples=plan.max_samples)
                planned = max(result.planned_samples, n)
                resolves = _resolves(result)
                if result.verdict in ("leaks", "no leak") or n >= plan.max_samples:
                    break
                result = None
            if deadline is not None and now >= deadline:
                result = analyse(data, plan.alpha, plan.floor_us_per_bit, beta=plan.beta,
                                 looks=len(looks), max_samples=plan.max_samples)
                if result.verdict not in ("leaks", "no leak"):
                    result.verdict = "incomplete"
                    result.reason = (f"incomplete: budget {plan.budget_s:g} s reached after {n} "
                                     f"signatures; {_resolves(result)}")
                break
            if plan.progress is not None and now >= next_progress:
                next_progress = now + plan.progress_every_s
                budget = f" of {plan.budget_s:.0f} s" if plan.budget_s is not None else ""
                plan.progress(f"nonce_timing:{scheme}: {n} signatures (planned {planned}, cap "
                              f"{plan.max_samples}), {now - start:.0f} s{budget}; {resolves}")
    assert result is not None
    result.elapsed_s = time.monotonic() - start
    result.budget_s = plan.budget_s
    result.resent = data.resent
    result.sign_median_ms = float(np.median(data.times_s)) * 1e3 if data.times_s else 0.0
    result.latency_bound_ms = plan.latency_bound_s * 1e3 if plan.latency_bound_s else None
    if result.verdict == "inconclusive" and not result.reason:
        result.reason = (f"inconclusive: cap of {plan.max_samples} signatures reached; "
                         f"{_resolves(result)}; raise --samples")
    return data, result


def _resolves(res: LeakageResult) -> str:
    """What the samples could tell: the smallest resolvable effect against the floor."""
    if res.resolvable_us_per_bit == float("inf"):
        return (f"too few signatures in a class ({res.n_zero_class} / {res.n_high_class}) to "
                f"resolve any effect (floor {res.floor_us_per_bit:g} µs/bit)")
    return (f"could resolve effects >= {res.resolvable_us_per_bit:.2f} µs/bit "
            f"(floor {res.floor_us_per_bit:g})")


def _too_slow(data: TimingSamples, plan: Plan, median_s: float, elapsed: float) -> LeakageResult:
    res = LeakageResult(data.scheme, len(data.times_s), "too slow", 0.0, 1.0, plan.alpha,
                        plan.floor_us_per_bit, 0, 0, {}, 0.0)
    res.reason = (f"TPM2_Sign took {median_s * 1e3:.1f} ms (median of the first {LATENCY_PROBE}), "
                  f"above the {plan.latency_bound_s * 1e3:g} ms the profile allows "
                  f"({plan.latency_source or 'TPM2_Sign bound'}); timing not run further")
    res.elapsed_s = elapsed
    return res


#: Quantile at which the classes' times are compared for the effect size.
EFFECT_QUANTILE = 25


def _shift_estimate(high, zero) -> float:
    """Time shift between the classes at their lower quartile.

    A leak adds its delay to every signature, so it shifts every quantile
    alike; a loaded host adds preemption delays that pile up in the upper
    tail. The lower quartile therefore tracks the chip, not the host.
    """
    import numpy as np

    return float(np.percentile(high, EFFECT_QUANTILE) - np.percentile(zero, EFFECT_QUANTILE))


def analyse(data: TimingSamples, alpha: float = DEFAULT_ALPHA,
            floor_us_per_bit: float = DEFAULT_FLOOR_US_PER_BIT, *, beta: float = sampling.DEFAULT_BETA,
            looks: int = 1, max_samples: int = DEFAULT_SAMPLES) -> LeakageResult:
    """Mann-Whitney U (one-sided) between >= 4 leading zero bits and none.

    The p-value is valid on a busy host because nonces are random and so
    independent of when the host was slow; the effect floor keeps a
    statistically significant but physically meaningless shift from
    counting as a leak. ``looks``: how many times the data may be looked at
    (alpha and beta are split over them). Verdict ``leaks`` (p < alpha/looks
    and effect above the floor), ``no leak`` (upper bound of the effect below
    the floor) or ``inconclusive``.
    """
    import numpy as np
    from scipy import stats

    t_us = np.asarray(data.times_s) * 1e6
    z = np.asarray(data.zeros)
    zero, high = t_us[z == 0], t_us[z >= HIGH_CLASS_MIN_ZEROS]
    medians = {int(b): float(np.median(t_us[z == b])) for b in sorted(set(z.tolist()))
               if np.count_nonzero(z == b) >= 10}
    slope = float(stats.linregress(z, t_us).slope) if len(set(z.tolist())) > 1 else 0.0
    alpha_look, beta_look = alpha / looks, beta / looks
    if len(zero) < 20 or len(high) < 20:
        res = LeakageResult(data.scheme, len(t_us), "inconclusive", 0.0, 1.0, alpha,
                            floor_us_per_bit, len(zero), len(high), medians, slope)
        res.looks = looks
        res.planned_samples = max_samples
        res.reason = (f"inconclusive: {len(zero)} signatures without and {len(high)} with >= 4 "
                      "leading zero bits; at least 20 of each are needed")
        return res
    p = float(stats.mannwhitneyu(high, zero, alternative="greater").pvalue)
    mean_bits = float(np.mean(z[z >= HIGH_CLASS_MIN_ZEROS]))
    per_bit = float(_shift_estimate(high, zero) / mean_bits)
    iqr = float(np.percentile(zero, 75) - np.percentile(zero, 25))
    noise = sampling.quantile_noise_us(zero)
    reso = sampling.resolution(noise, len(zero), len(high), mean_bits, per_bit, floor_us_per_bit,
                               alpha_look, beta_look, max_samples)
    if p < alpha_look and per_bit > floor_us_per_bit:
        verdict = "leaks"
    elif (reso.upper_us_per_bit < floor_us_per_bit
          and per_bit - (reso.upper_us_per_bit - per_bit) > -floor_us_per_bit):
        # "No leak" is an equivalence claim: the effect lies within +-floor. A shift that is
        # confidently below -floor is not a chip property (a nonce's length cannot make signing
        # faster by that much) but drifting host timing; it must not pass as "no leak".
        verdict = "no leak"
    else:
        verdict = "inconclusive"
    res = LeakageResult(data.scheme, len(t_us), verdict, per_bit, p, alpha, floor_us_per_bit,
                        len(zero), len(high), medians, slope, iqr, reso.resolvable_us_per_bit,
                        reso.upper_us_per_bit, noise, reso.planned_samples, looks)
    return res
