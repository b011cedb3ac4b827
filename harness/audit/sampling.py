"""How many signatures the nonce-timing check needs, and when it may stop.

The check compares the lower quartile of signing times between nonces with
no leading zero bit (half of all nonces) and nonces with >= 4 (one in 16,
on average 5 leading zeros). Its noise is the standard error of that
quantile difference, which this module estimates from the measurements
themselves, without assuming a distribution: the standard error of a sample
quantile is sqrt(q(1-q)/n) / f(x_q), and the density f at the quantile is
read from the spacing of the neighbouring quantiles (Siddiqui's estimator).
Host preemption piles up in the upper tail and barely moves the lower
quartile, which is why the check looks there.

Power analysis: with per-signature quantile noise ``sigma`` (µs), class
shares 1/2 and 1/16 and a floor of ``floor`` µs per bit (5 bits on average
in the high class), the effect at the floor is 5 * floor µs and its
standard error after N signatures is sigma * sqrt(2/N + 16/N), so

    N = 18 * ((z_alpha + z_beta) * sigma / (5 * floor))^2.

Sequential test: the data are looked at after a pilot and then at
geometrically growing sample sizes (x1.5), at most ``len(looks)`` times; each
look uses alpha / looks and beta / looks (Bonferroni over the looks, valid
whatever the dependence between them), so stopping early keeps the overall
error rates. A look stops the check when the answer is clear:

* leak: Mann-Whitney p < alpha/looks and the effect estimate above the floor;
* no leak: the effect confidently within +-floor (upper bound below the floor, lower above -floor).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Share of nonces with no leading zero bit / with at least 4.
P_ZERO_CLASS = 0.5
P_HIGH_CLASS = 1 / 16
#: Mean leading zeros of the >= 4 class (geometric: 4 + 1).
MEAN_HIGH_ZEROS = 5.0
#: Quantile at which the classes are compared, and the half-width used to read
#: the density there.
QUANTILE = 0.25
DENSITY_HALF_WIDTH = 0.05

PILOT = 400
GROWTH = 1.5
#: Probability of calling a chip "no leak" when it leaks at the floor.
DEFAULT_BETA = 0.01


def z_upper(p: float) -> float:
    """The standard normal quantile z with P(Z > z) = p."""
    from scipy import stats

    return float(stats.norm.isf(p))


def look_schedule(max_samples: int, pilot: int = PILOT, growth: float = GROWTH) -> list[int]:
    """Sample sizes at which the data are looked at: pilot, x1.5, ..., max."""
    pilot = min(pilot, max_samples)
    looks = [pilot]
    while looks[-1] < max_samples:
        looks.append(min(max_samples, math.ceil(looks[-1] * growth)))
    return looks


def quantile_noise_us(times_us) -> float:
    """Per-signature noise of the lower quartile (µs): sqrt(q(1-q)) / f(x_q).

    Multiply by sqrt(1/n) to get the standard error of the quartile of n
    signatures.
    """
    import numpy as np

    t = np.asarray(times_us, dtype=float)
    if len(t) < 20:
        return float("inf")
    h = DENSITY_HALF_WIDTH
    lo, hi = np.quantile(t, [QUANTILE - h, QUANTILE + h])
    spacing = max(float(hi - lo), 1e-3)  # a timer resolution of 1 ns, never zero
    return math.sqrt(QUANTILE * (1 - QUANTILE)) * spacing / (2 * h)


@dataclass(frozen=True)
class Resolution:
    """What the data collected so far can tell (one look)."""

    sigma_us: float
    se_us_per_bit: float
    resolvable_us_per_bit: float
    upper_us_per_bit: float
    planned_samples: int


def resolution(sigma_us: float, n_zero: int, n_high: int, mean_high_zeros: float,
               estimate_us_per_bit: float, floor_us_per_bit: float, alpha_look: float,
               beta_look: float, max_samples: int) -> Resolution:
    """Standard error, smallest resolvable effect, upper bound and planned N."""
    z_a, z_b = z_upper(alpha_look), z_upper(beta_look)
    if n_zero < 1 or n_high < 1 or not math.isfinite(sigma_us):
        return Resolution(sigma_us, float("inf"), float("inf"), float("inf"), max_samples)
    bits = mean_high_zeros or MEAN_HIGH_ZEROS
    se = sigma_us * math.sqrt(1 / n_zero + 1 / n_high) / bits
    planned = math.ceil((1 / P_ZERO_CLASS + 1 / P_HIGH_CLASS)
                        * ((z_a + z_b) * sigma_us / (MEAN_HIGH_ZEROS * floor_us_per_bit)) ** 2)
    return Resolution(sigma_us, se, (z_a + z_b) * se, estimate_us_per_bit + z_b * se,
                      max(PILOT, min(planned, max_samples)))

