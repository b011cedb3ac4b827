"""Linux IMA runtime measurement lists: reader, template hashes and PCR 10 replay.

IMA (``/sys/kernel/security/ima/``) measures files into PCR 10 and lists
them in ``ascii_runtime_measurements`` / ``binary_runtime_measurements``
(template digest SHA-1; the ``_sha256`` variants list SHA-256 template
digests). Templates read here (kernel ``ima_template.c``, ``ima_fs.c``):

* ``ima``: ``d|n``: SHA-1 file digest (20 bytes) and name; the template hash
  is ``H(d || name padded with NULs to 256 bytes)``. Binary list: d without a
  length, n as u32 length + name without NUL, no template-data length.
* ``ima-ng``: ``d-ng|n-ng``; ``ima-sig``: ``d-ng|n-ng|sig``; ``ima-buf``:
  ``d-ng|n-ng|buf``. d-ng is ``"<alg>:" NUL digest``, n-ng the name with its
  NUL; the template hash is ``H(for each field: u32 LE length || data)``,
  which is also the template data of the binary list.

Names never contain spaces (the kernel writes ``_``). Replay (kernel >= 5.8,
``ima_calc_field_array_hash``): each PCR bank is extended with the template
data hashed by *that bank's* algorithm; older kernels extended every bank
with the SHA-1 template digest zero-padded to the bank size. A measurement
violation (ToMToU, open writers) is listed with an all-zero template digest
but extended as all ``ff`` (``ima_add_violation``). Both kernel rules are
tried and the report says which one the chip followed.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError
from harness.bounded_file import read_bounded

MAX_LIST = 256 * 1024 * 1024  # a busy server's list is tens of MB
MAX_ENTRY = 1024 * 1024       # template data (ima-buf may carry certificates)
NAME_PAD = 256                # IMA_EVENT_NAME_LEN_MAX + 1
TEMPLATES = ("ima", "ima-ng", "ima-sig", "ima-buf")
_DIGEST_SIZES = {"md5": 16, "sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64,
                 "sm3": 32, "sm3-256": 32, "streebog256": 32, "streebog512": 64}


class ImaListError(ConfigError):
    """The measurement list is malformed; the message names the file, entry and offset."""


@dataclass
class ImaEntry:
    """One measurement.

    Attributes:
        index: 0-based position (the first entry is usually ``boot_aggregate``).
        where: ``line 3`` or ``offset 0x1f4``.
        template_hash: as listed (all zeros for a violation).
        fields: the template fields' data, as the kernel hashes them.
    """

    index: int
    where: str
    pcr: int
    template_hash: bytes
    template: str
    fields: list[bytes]
    file_alg: str
    file_hash: bytes
    path: str

    @property
    def violation(self) -> bool:
        return not any(self.template_hash)

    def label(self) -> str:
        return f"IMA entry #{self.index} ({self.where}, {self.path})"

    def hash_input(self) -> bytes:
        """What the template hash is computed over."""
        if self.template == "ima":
            return self.fields[0] + self.fields[1].ljust(NAME_PAD, b"\x00")[:NAME_PAD]
        return b"".join(struct.pack("<I", len(f)) + f for f in self.fields)

    def template_digest(self, bank: str) -> bytes:
        return hashlib.new(bank, self.hash_input()).digest()

    def ascii_line(self) -> str:
        """The entry as ``ascii_runtime_measurements`` shows it."""
        head = f"{self.pcr} {self.template_hash.hex()} {self.template}"
        if self.template == "ima":
            return f"{head} {self.file_hash.hex()} {self.path}"
        sig = f" {self.fields[2].hex()}" if self.template == "ima-sig" and self.fields[2] else ""
        return f"{head} {self.file_alg}:{self.file_hash.hex()} {self.path}{sig}"


def ng_entry(index: int, path: str, file_alg: str, file_hash: bytes, pcr: int = 10,
             template_hash_alg: str = "sha1") -> ImaEntry:
    """An ``ima-ng`` entry as the kernel would list it (for synthetic runtime lists)."""
    fields = [_dng(file_alg, file_hash), path.encode() + b"\x00"]
    e = ImaEntry(index, f"entry {index}", pcr, b"", "ima-ng", fields, file_alg, file_hash, path)
    e.template_hash = e.template_digest(template_hash_alg)
    return e


@dataclass
class ImaList:
    source: str
    entries: list[ImaEntry] = field(default_factory=list)
    template_hash_alg: str = "sha1"


def _dng(alg: str, digest: bytes) -> bytes:
    return alg.encode("ascii") + b":\x00" + digest


def _split_dng(data: bytes, fail) -> tuple[str, bytes]:
    head, sep, digest = data.partition(b":\x00")
    if not sep:
        raise fail("d-ng field has no '<algorithm>:' prefix")
    alg = head.decode("ascii", "replace")
    if alg in _DIGEST_SIZES and len(digest) != _DIGEST_SIZES[alg]:
        raise fail(f"{alg} file digest is {len(digest)} bytes, not {_DIGEST_SIZES[alg]}")
    return alg, digest


def _entry(index: int, where: str, pcr: int, th: bytes, template: str, fields: list[bytes],
           fail) -> ImaEntry:
    if template == "ima":
        if len(fields) != 2 or len(fields[0]) != 20:
            raise fail("an 'ima' entry has a 20-byte SHA-1 digest and a name")
        alg, digest, name = "sha1", fields[0], fields[1].rstrip(b"\x00")
        if len(name) >= NAME_PAD:
            raise fail(f"name of {len(name)} bytes is longer than IMA's {NAME_PAD - 1}")
        fields = [fields[0], name]
    else:
        want = {"ima-ng": 2, "ima-sig": 3, "ima-buf": 3}[template]
        if len(fields) != want and not (template == "ima-sig" and len(fields) == 2):
            raise fail(f"an '{template}' entry has {want} fields, this one {len(fields)}")
        if template == "ima-sig" and len(fields) == 2:
            fields = fields + [b""]
        alg, digest = _split_dng(fields[0], fail)
        name = fields[1].rstrip(b"\x00")
    return ImaEntry(index, where, pcr, th, template, fields, alg, digest,
                    name.decode("utf-8", "replace"))


def parse_ascii(text: bytes, source: str = "<ima>") -> ImaList:
    """Read ``ascii_runtime_measurements`` (or its ``_sha256`` variant)."""
    out = ImaList(source)
    lines = text.decode("utf-8", "replace").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        index = len(out.entries)

        def fail(problem: str, n=n, index=index) -> ImaListError:
            return ImaListError(f"IMA list {source}: entry #{index} (line {n}): {problem}")

        parts = line.split()
        if len(parts) < 5:
            raise fail(f"{len(parts)} fields; a measurement line has PCR, template hash, "
                       "template, file digest and name")
        pcr_text, th_hex, template = parts[0], parts[1], parts[2]
        if not pcr_text.isdigit() or int(pcr_text) > 23:
            raise fail(f"PCR {pcr_text!r} is not 0-23")
        try:
            th = bytes.fromhex(th_hex)
        except ValueError:
            raise fail(f"template hash {th_hex[:20]!r} is not hex") from None
        size = 20 if not out.entries else len(out.entries[0].template_hash)
        if not out.entries:
            out.template_hash_alg = {20: "sha1", 32: "sha256", 48: "sha384",
                                     64: "sha512"}.get(len(th), "")
            if not out.template_hash_alg:
                raise fail(f"template hash of {len(th)} bytes")
        elif len(th) != size:
            raise fail(f"template hash of {len(th)} bytes, the list's are {size}")
        if template not in TEMPLATES:
            raise fail(f"template {template!r} is not one of {', '.join(TEMPLATES)}")
        try:
            if template == "ima":
                fields = [bytes.fromhex(parts[3]), parts[4].encode()]
            else:
                alg, _, hexdigest = parts[3].partition(":")
                fields = [_dng(alg, bytes.fromhex(hexdigest)), parts[4].encode() + b"\x00"]
                fields += [bytes.fromhex(p) for p in parts[5:6]]
        except ValueError:
            raise fail("a digest or signature field is not hex") from None
        if template == "ima-buf" and len(fields) == 2:
            fields.append(b"")
        out.entries.append(_entry(index, f"line {n}", int(pcr_text), th, template, fields, fail))
    return out


def parse_binary(data: bytes, source: str = "<ima>", template_hash_size: int = 20) -> ImaList:
    """Read ``binary_runtime_measurements`` (little-endian, as on x86 and canonical lists)."""
    out = ImaList(source, template_hash_alg={20: "sha1", 32: "sha256", 48: "sha384",
                                             64: "sha512"}[template_hash_size])
    pos = 0
    while pos < len(data):
        index, start = len(out.entries), pos

        def fail(problem: str, index=index, start=start) -> ImaListError:
            return ImaListError(f"IMA list {source}: entry #{index} at offset 0x{start:x}: "
                                f"{problem}")

        def take(n: int, what: str) -> bytes:
            nonlocal pos
            if n > len(data) - pos:
                raise fail(f"truncated: {what} needs {n} bytes, {len(data) - pos} remain")
            pos += n
            return data[pos - n:pos]

        pcr = struct.unpack("<I", take(4, "PCR"))[0]
        if pcr > 23:
            raise fail(f"PCR {pcr} is not 0-23")
        th = take(template_hash_size, "template hash")
        name_len = struct.unpack("<I", take(4, "template name length"))[0]
        if name_len > 32:
            raise fail(f"template name length {name_len} is implausible")
        template = take(name_len, "template name").decode("ascii", "replace")
        if template not in TEMPLATES:
            raise fail(f"template {template!r} is not one of {', '.join(TEMPLATES)}")
        if template == "ima":
            digest = take(20, "SHA-1 file digest")
            n = struct.unpack("<I", take(4, "name length"))[0]
            if n >= NAME_PAD:
                raise fail(f"name length {n} is longer than IMA's {NAME_PAD - 1}")
            fields = [digest, take(n, "name")]
        else:
            size = struct.unpack("<I", take(4, "template data length"))[0]
            if size > MAX_ENTRY:
                raise fail(f"template data length {size} is implausible")
            body, fields, p = take(size, "template data"), [], 0
            while p < len(body):
                if len(body) - p < 4:
                    raise fail("template data ends inside a field length")
                flen = struct.unpack_from("<I", body, p)[0]
                if flen > len(body) - p - 4:
                    raise fail(f"field of {flen} bytes overruns the template data")
                fields.append(body[p + 4:p + 4 + flen])
                p += 4 + flen
        out.entries.append(_entry(index, f"offset 0x{start:x}", pcr, th, template, fields, fail))
    return out


def read_ima_list(path: str | Path) -> ImaList:
    """Read an ASCII or binary list; binary ``..._sha256`` files carry SHA-256 template hashes."""
    p = Path(path)
    data = read_bounded(p, MAX_LIST, "IMA list", ImaListError, allow_empty=False)
    if data[:1].isdigit():  # ASCII lines start with the PCR number; binary with a u32 LE
        return parse_ascii(data, str(p))
    size = {"sha256": 32, "sha384": 48, "sha512": 64}.get(p.name.rsplit("_", 1)[-1], 20)
    return parse_binary(data, str(p), size)


@dataclass
class TemplateCheck:
    bad: list[str]
    violations: list[ImaEntry]


def check_template_hashes(ima: ImaList) -> TemplateCheck:
    """Recompute every template hash from its fields (violations are listed as zeros)."""
    bad, violations = [], []
    for e in ima.entries:
        if e.violation:
            violations.append(e)
            continue
        got = e.template_digest(ima.template_hash_alg)
        if got != e.template_hash:
            bad.append(f"{e.label()}: listed template hash {e.template_hash.hex()[:16]}... is "
                       f"not the {ima.template_hash_alg} of its fields ({got.hex()[:16]}...)")
    return TemplateCheck(bad, violations)


def replay_pcr(ima: ImaList, bank: str, legacy: bool = False, pcr: int = 10) -> bytes:
    """PCR ``pcr`` in ``bank`` after the list; ``legacy``: kernels before 5.8 extended
    every bank with the SHA-1 template digest padded with zeros."""
    size = hashlib.new(bank).digest_size
    value = bytes(size)
    for e in ima.entries:
        if e.pcr != pcr:
            continue
        if legacy:
            sha1 = b"\xff" * 20 if e.violation else (
                e.template_hash if ima.template_hash_alg == "sha1" else e.template_digest("sha1"))
            digest = sha1.ljust(size, b"\x00")[:size]
        elif e.violation:
            digest = b"\xff" * size
        else:
            digest = e.template_hash if bank == ima.template_hash_alg else e.template_digest(bank)
        value = hashlib.new(bank, value + digest).digest()
    return value


def boot_aggregate(pcrs: dict[int, bytes], bank: str, with_8_9: bool) -> bytes | None:
    """The boot_aggregate IMA computes (``ima_calc_boot_aggregate``): H(PCR 0..7), and
    for non-SHA-1 banks since kernel 5.8 also PCRs 8 and 9."""
    wanted = range(10 if with_8_9 else 8)
    if any(p not in pcrs for p in wanted):
        return None
    return hashlib.new(bank, b"".join(pcrs[p] for p in wanted)).digest()
