"""ECDSA verification on any short-Weierstrass curve, from the curve parameters
alone (SEC 1 v2 §4.1.4), for curves ``cryptography`` does not offer (BN, SM2).

Plain affine arithmetic: slow, but only a handful of verifications run.
"""

from __future__ import annotations

from dataclasses import dataclass

Point = tuple[int, int] | None  # None is the point at infinity


@dataclass(frozen=True)
class Curve:
    """``y^2 = x^3 + a*x + b`` over GF(p), base point ``g`` of order ``n``."""

    p: int
    a: int
    b: int
    g: tuple[int, int]
    n: int

    def on_curve(self, point: Point) -> bool:
        if point is None:
            return False
        x, y = point
        return 0 <= x < self.p and 0 <= y < self.p and \
            (y * y - (x * x * x + self.a * x + self.b)) % self.p == 0

    def add(self, p1: Point, p2: Point) -> Point:
        if p1 is None:
            return p2
        if p2 is None:
            return p1
        (x1, y1), (x2, y2) = p1, p2
        if x1 == x2 and (y1 + y2) % self.p == 0:
            return None
        if p1 == p2:
            slope = (3 * x1 * x1 + self.a) * pow(2 * y1, -1, self.p) % self.p
        else:
            slope = (y2 - y1) * pow(x2 - x1, -1, self.p) % self.p
        x3 = (slope * slope - x1 - x2) % self.p
        return x3, (slope * (x1 - x3) - y1) % self.p

    def multiply(self, k: int, point: Point) -> Point:
        result: Point = None
        addend = point
        while k:
            if k & 1:
                result = self.add(result, addend)
            addend = self.add(addend, addend)
            k >>= 1
        return result

    def ecdsa_verify(self, q: tuple[int, int], digest: bytes, r: int, s: int) -> bool:
        """SEC 1 §4.1.4: the digest's leftmost bits of n's length, then u1*G + u2*Q."""
        if not (0 < r < self.n and 0 < s < self.n) or not self.on_curve(q):
            return False
        e = int.from_bytes(digest, "big")
        excess = len(digest) * 8 - self.n.bit_length()
        if excess > 0:
            e >>= excess
        w = pow(s, -1, self.n)
        point = self.add(self.multiply(e * w % self.n, self.g), self.multiply(r * w % self.n, q))
        return point is not None and point[0] % self.n == r
