"""IMA measurement lists built in the tests from the kernel's documented formats.

Written with ``hashlib``/``struct`` only (nothing from ``harness.attest.ima``),
following Documentation/security/IMA-templates.rst and ``ima_fs.c``:

* ASCII line: ``PCR template-hash template-name fields...`` (d-ng shown as
  ``alg:hex``, the signature as hex);
* binary entry: u32 PCR, template hash, u32 name length, name, then (not for
  ``ima``) u32 template-data length and the fields as u32 length + data;
  ``ima`` writes the 20-byte digest and u32 length + name (no NUL);
* template hash: ``ima``: H(digest || name padded to 256 bytes); the others
  H(u32 length || data for each field); d-ng data is ``alg ":" NUL digest``,
  n-ng the name with NUL.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class Measured:
    template: str          # ima, ima-ng, ima-sig
    path: str
    content: bytes | None  # None: a violation (all-zero template hash, extended as ff)
    alg: str = "sha256"    # file hash algorithm (ima: always sha1)
    sig: bytes = b""

    def file_hash(self) -> bytes:
        alg = "sha1" if self.template == "ima" else self.alg
        return hashlib.new(alg, self.content or b"").digest()

    def fields(self) -> list[bytes]:
        if self.template == "ima":
            return [self.file_hash(), self.path.encode()]
        dng = self.alg.encode() + b":\x00" + self.file_hash()
        out = [dng, self.path.encode() + b"\x00"]
        return out + [self.sig] if self.template == "ima-sig" else out

    def template_data(self, bank: str) -> bytes:
        if self.content is None:
            return bytes(hashlib.new(bank).digest_size)
        f = self.fields()
        if self.template == "ima":
            return hashlib.new(bank, f[0] + f[1].ljust(256, b"\x00")).digest()
        return hashlib.new(bank, b"".join(struct.pack("<I", len(x)) + x for x in f)).digest()

    def extend_digest(self, bank: str) -> bytes:
        size = hashlib.new(bank).digest_size
        return b"\xff" * size if self.content is None else self.template_data(bank)

    def ascii(self, th_bank: str = "sha1") -> str:
        th = self.template_data(th_bank).hex()
        if self.template == "ima":
            return f"10 {th} ima {self.file_hash().hex()} {self.path}"
        line = f"10 {th} {self.template} {self.alg}:{self.file_hash().hex()} {self.path}"
        return line + (f" {self.sig.hex()}" if self.template == "ima-sig" and self.sig else "")

    def binary(self, th_bank: str = "sha1") -> bytes:
        name = self.template.encode()
        head = struct.pack("<I", 10) + self.template_data(th_bank) + struct.pack("<I", len(name))
        f = self.fields()
        if self.template == "ima":
            return head + name + f[0] + struct.pack("<I", len(f[1])) + f[1]
        body = b"".join(struct.pack("<I", len(x)) + x for x in f)
        return head + name + struct.pack("<I", len(body)) + body


def boot_aggregate(pcr_values: list[bytes], alg: str) -> Measured:
    """The first entry: the digest IMA computes over PCRs 0-7 (0-9 for non-SHA-1)."""
    return _Aggregate("ima-ng", "boot_aggregate", b"", alg=alg,
                      sig=hashlib.new(alg, b"".join(pcr_values)).digest())


@dataclass(frozen=True)
class _Aggregate(Measured):
    def file_hash(self) -> bytes:  # the aggregate is carried in ``sig`` (not a file content)
        return self.sig

    def fields(self) -> list[bytes]:
        return [self.alg.encode() + b":\x00" + self.sig, b"boot_aggregate\x00"]

    def ascii(self, th_bank: str = "sha1") -> str:
        return (f"10 {self.template_data(th_bank).hex()} ima-ng {self.alg}:{self.sig.hex()} "
                "boot_aggregate")


def sample(boot: Measured | None = None) -> list[Measured]:
    entries = [boot] if boot else []
    return entries + [
        Measured("ima-ng", "/usr/bin/bash", b"#!bash binary v5.2"),
        Measured("ima-ng", "/usr/lib/x86_64-linux-gnu/libc.so.6", b"libc 2.36", alg="sha1"),
        Measured("ima-sig", "/usr/sbin/plc-runtime", b"plc runtime 4.1",
                 sig=b"\x03\x02\x04" + bytes(range(40))),
        Measured("ima-sig", "/usr/bin/modbus-gw", b"gateway 1.0"),
        Measured("ima", "/etc/ld.so.cache", b"ld cache"),
        Measured("ima-ng", "/var/lib/app/state.db", None),  # ToMToU violation
        Measured("ima-ng", "/opt/vendor/bin/updater", b"updater 7", alg="sha512"),
    ]


def pcr10(entries: list[Measured], bank: str) -> bytes:
    value = bytes(hashlib.new(bank).digest_size)
    for m in entries:
        value = hashlib.new(bank, value + m.extend_digest(bank)).digest()
    return value


def allowlist(entries: list[Measured]) -> dict:
    return {"files": {m.path: [f"{'sha1' if m.template == 'ima' else m.alg}:{m.file_hash().hex()}"]
                      for m in entries if m.content is not None and m.path != "boot_aggregate"}}
