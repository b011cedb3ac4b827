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

The known key below is a public test value, not a secret.
"""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from harness.audit import raw
from harness.errors import HarnessError, ResponseFormatError

#: NIST P-256 group order.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
#: The audit's fixed, public test key (TPM-Fail template phase uses a known key).
KNOWN_D = 0x5A11AD17B0A7D1E5C0FFEE0DDBA11F00D5EEDC0DE0123456789ABCDEF0123457

TPM_CC_SIGN = 0x0000015D
TPM_ALG_SHA256 = 0x000B
SCHEMES = {"ecdsa": 0x0018, "ecschnorr": 0x001C}
_TPM_RS_PW = 0x40000009
_TPM_ST_HASHCHECK = 0x8024
_TPM_RH_NULL = 0x40000007

DEFAULT_SAMPLES = 10000
DEFAULT_ALPHA = 1e-5
DEFAULT_FLOOR_US_PER_BIT = 2.0
HIGH_CLASS_MIN_ZEROS = 4


def leading_zero_bits(k: int, bits: int = 256) -> int:
    return bits - k.bit_length()


def build_sign_command(key_handle: int, digest: bytes, scheme: str) -> bytes:
    """TPM2_Sign (Part 3 §20.2) with a password session and a NULL ticket."""
    auth = struct.pack(">IHBH", _TPM_RS_PW, 0, 0, 0)
    params = (struct.pack(">H", len(digest)) + digest
              + struct.pack(">HH", SCHEMES[scheme], TPM_ALG_SHA256)
              + struct.pack(">HIH", _TPM_ST_HASHCHECK, _TPM_RH_NULL, 0))
    body = struct.pack(">I", key_handle) + struct.pack(">I", len(auth)) + auth + params
    return struct.pack(">HII", 0x8002, 10 + len(body), TPM_CC_SIGN) + body


def parse_sign_command(command: bytes) -> tuple[int, bytes, int]:
    """(key handle, digest, signature scheme) from a TPM2_Sign command with sessions."""
    handle, auth_size = struct.unpack_from(">II", command, 10)
    off = 18 + auth_size
    (dlen,) = struct.unpack_from(">H", command, off)
    digest = command[off + 2: off + 2 + dlen]
    (scheme,) = struct.unpack_from(">H", command, off + 2 + dlen)
    return handle, digest, scheme


def parse_sign_response(response: bytes) -> tuple[int, int, int]:
    """(sigAlg, r, s) from a successful TPM2_Sign response with sessions (TPMT_SIGNATURE)."""
    try:
        off = 14  # header + parameterSize
        sig_alg, _hash = struct.unpack_from(">HH", response, off)
        off += 4
        (rlen,) = struct.unpack_from(">H", response, off)
        r = int.from_bytes(response[off + 2: off + 2 + rlen], "big")
        off += 2 + rlen
        (slen,) = struct.unpack_from(">H", response, off)
        s = int.from_bytes(response[off + 2: off + 2 + slen], "big")
    except struct.error as exc:
        raise ResponseFormatError(f"TPM2_Sign response too short for an EC signature: {exc}",
                                  "TPM2_Sign") from None
    return sig_alg, r, s


def recover_nonce(scheme: int | str, digest: bytes, r: int, s: int, d: int = KNOWN_D) -> int:
    """The signing nonce k, from the signature and the known private key."""
    n = P256_N
    if scheme in (SCHEMES["ecdsa"], "ecdsa"):
        z = int.from_bytes(digest[:32], "big")
        return pow(s, -1, n) * (z + r * d) % n
    if scheme in (SCHEMES["ecschnorr"], "ecschnorr"):
        return (s - r * d) % n
    raise ValueError(f"nonce recovery not implemented for scheme {scheme!r}")


def nonce_consistent(scheme: str, digest: bytes, r: int, k: int) -> bool:
    """Whether a recovered k really produced r (so the recovery formula is right).

    ECDSA: r = x(kG) mod n. ECSchnorr (libtpms): r = SHA-256(x(kG) || digest) mod n.
    """
    if not 0 < k < P256_N:
        return False
    x = ec.derive_private_key(k, ec.SECP256R1()).public_key().public_numbers().x
    if scheme == "ecdsa":
        return x % P256_N == r
    import hashlib

    e = int.from_bytes(hashlib.sha256(x.to_bytes(32, "big") + digest).digest(), "big")
    return r in (e, e % P256_N)


@dataclass
class TimingSamples:
    """Signing times and recovered nonces' leading zero bits for one scheme."""

    scheme: str
    times_s: list[float] = field(default_factory=list)
    zeros: list[int] = field(default_factory=list)


@dataclass
class LeakageResult:
    """The verdict for one scheme.

    Attributes:
        verdict: ``leaks``, ``no leak`` or ``inconclusive`` (too few samples
            in a class to test).
        us_per_bit: time shift between the classes at their lower quartile,
            divided by the mean leading zero bits of the high class.
        jitter_iqr_us: interquartile range of the zero class's times (how
            noisy the host and link were; a smaller leak is hard to see).
        p_value: one-sided Mann-Whitney U p-value (high class slower).
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

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def collect(esapi, transport, samples: int, scheme: str = "ecdsa",
            verify_first: int = 8) -> TimingSamples:
    """Load the known key, sign ``samples`` random digests and time each TPM2_Sign.

    The first ``verify_first`` recovered nonces are checked against r, so a
    wrong recovery formula or a chip signing with another key is an error,
    not a silent wrong verdict.
    """
    from tpm2_pytss.constants import ESYS_TR
    from tpm2_pytss.types import TPM2B_PUBLIC, TPM2B_SENSITIVE
    from cryptography.hazmat.primitives import serialization as ser

    key = ec.derive_private_key(KNOWN_D, ec.SECP256R1())
    pem_priv = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    pem_pub = key.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
    from tpm2_pytss import TSS2_Exception

    try:
        handle = esapi.load_external(TPM2B_PUBLIC.from_pem(pem_pub), TPM2B_SENSITIVE.from_pem(pem_priv),
                                     ESYS_TR.RH_NULL)
    except TSS2_Exception as exc:
        raise HarnessError(f"TPM2_LoadExternal of the known P-256 key was refused ({exc}); the "
                           "timing test needs a key whose private part is known") from exc
    out = TimingSamples(scheme)
    activity = getattr(transport.log, "activity", None)
    try:
        tpm_handle = esapi.tr_get_tpm_handle(handle)
        if hasattr(transport.log, "activity"):
            transport.log.activity = f"audit:nonce_timing:{scheme}"
        clock = time.perf_counter
        for i in range(samples):
            digest = os.urandom(32)
            cmd = build_sign_command(tpm_handle, digest, scheme)
            for _attempt in range(raw.RETRIES):  # try-again warnings: time the attempt that signed
                t0 = clock()
                rsp = transport.exchange(cmd)
                elapsed = clock() - t0
                rc = struct.unpack_from(">I", rsp, 6)[0]
                if rc not in raw.TRY_AGAIN:
                    break
            if rc != 0:
                from harness.tpm.names import rc_name
                raise HarnessError(f"TPM2_Sign with {scheme} on the known P-256 key failed: {rc_name(rc)}")
            _, r, s = parse_sign_response(rsp)
            k = recover_nonce(scheme, digest, r, s)
            if i < verify_first and not nonce_consistent(scheme, digest, r, k):
                raise HarnessError(f"{scheme}: the recovered nonce does not reproduce r; the chip "
                                   "does not sign as TPM 2.0 Part 1 Annex C describes, cannot test")
            out.times_s.append(elapsed)
            out.zeros.append(leading_zero_bits(k))
    finally:
        if hasattr(transport.log, "activity"):
            transport.log.activity = activity
        esapi.flush_context(handle)
    return out


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
            floor_us_per_bit: float = DEFAULT_FLOOR_US_PER_BIT) -> LeakageResult:
    """Mann-Whitney U (one-sided) between >= 4 leading zero bits and none.

    The p-value is valid on a busy host because nonces are random and so
    independent of when the host was slow; the effect floor keeps a
    statistically significant but physically meaningless shift from
    counting as a leak.
    """
    import numpy as np
    from scipy import stats

    t_us = np.asarray(data.times_s) * 1e6
    z = np.asarray(data.zeros)
    zero, high = t_us[z == 0], t_us[z >= HIGH_CLASS_MIN_ZEROS]
    medians = {int(b): float(np.median(t_us[z == b])) for b in sorted(set(z.tolist()))
               if np.count_nonzero(z == b) >= 10}
    slope = float(stats.linregress(z, t_us).slope) if len(set(z.tolist())) > 1 else 0.0
    if len(zero) < 20 or len(high) < 20:
        return LeakageResult(data.scheme, len(t_us), "inconclusive", 0.0, 1.0, alpha,
                             floor_us_per_bit, len(zero), len(high), medians, slope)
    p = float(stats.mannwhitneyu(high, zero, alternative="greater").pvalue)
    per_bit = float(_shift_estimate(high, zero) / np.mean(z[z >= HIGH_CLASS_MIN_ZEROS]))
    leaks = p < alpha and per_bit > floor_us_per_bit
    iqr = float(np.percentile(zero, 75) - np.percentile(zero, 25))
    return LeakageResult(data.scheme, len(t_us), "leaks" if leaks else "no leak", per_bit, p, alpha,
                         floor_us_per_bit, len(zero), len(high), medians, slope, iqr)


def plot(results: list[tuple[TimingSamples, LeakageResult]], path) -> None:
    """Signing time against leading zero bits of the nonce, one panel per scheme."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, max(1, len(results)), figsize=(6 * max(1, len(results)), 4.2),
                             squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (data, res) in zip(axes[0], results):
        z = np.asarray(data.zeros)
        t = np.asarray(data.times_s) * 1e6
        ax.scatter(z + rng.uniform(-0.25, 0.25, len(z)), t, s=3, alpha=0.3, label="signatures")
        xs = sorted(res.median_us_by_zeros)
        ax.plot(xs, [res.median_us_by_zeros[x] for x in xs], "r-o", label="median (classes >= 10)")
        if len(t):
            ax.set_ylim(np.percentile(t, 0.5) * 0.9, np.percentile(t, 95) * 1.1)
        ax.set_xlabel("leading zero bits of nonce k")
        ax.set_ylabel("TPM2_Sign round trip (µs)")
        ax.set_title(f"{data.scheme}: {res.verdict}, {res.us_per_bit:+.1f} µs/bit, p={res.p_value:.2g}")
        ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
