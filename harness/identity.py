"""Who the chip says it is: TPM2_GetCapability (TPM 2.0 Part 3 §30.2).

:func:`probe` reads the fixed properties (manufacturer, vendor strings,
firmware version, family, spec level and revision), PT.MODES (the
FIPS 140 bit), the algorithm and command lists, the PCR banks and which EK
certificate NV indices exist.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tpm2_pytss.constants import TPM2_ALG, TPM2_CAP, TPM2_ECC

from harness.reference.hashes import ALGORITHMS
from harness.tpm import properties as PT

from harness.tpm.names import command_name

# TCG EK Credential Profile §2.2.1.4: low-range EK certificate NV indices.
EK_CERT_INDICES = {
    0x01C00002: "RSA 2048 EK certificate",
    0x01C0000A: "ECC NIST P-256 EK certificate",
    0x01C00012: "RSA 2048 EK certificate (high range)",
    0x01C00014: "ECC NIST P-256 EK certificate (high range)",
    0x01C00016: "ECC NIST P-384 EK certificate (high range)",
    0x01C0001C: "RSA 3072 EK certificate (high range)",
    0x01C0001E: "RSA 4096 EK certificate (high range)",
}
PLATFORM_CERT_INDEX = 0x01C08000



def _text(value: int) -> str:
    raw = value.to_bytes(4, "big")
    return raw.replace(b"\x00", b"").decode("ascii", errors="replace")


def vendor_text(raw: bytes) -> str:
    """TPM_PT_VENDOR_STRING_1..4 for display: the text when every byte (NULs dropped) is
    printable ASCII, else ``0x`` and the bytes in hex (ST33KTPM reports numbers, not text:
    a raw control byte must not reach JSON, a terminal or HTML)."""
    data = raw.replace(b"\x00", b"")
    if all(0x20 <= b < 0x7F for b in data):
        return data.decode("ascii").rstrip()
    return "0x" + data.hex()


# Hash names from the one table (harness.reference.hashes); the rest from tpm2-pytss.
_ALG_OVERRIDES = {**{alg: name for alg, (name, _size) in ALGORITHMS.items()}, 0x003F: "cmac"}


def _alg_name(alg: int) -> str:
    if alg in _ALG_OVERRIDES:
        return _ALG_OVERRIDES[alg]
    try:
        return str(TPM2_ALG.to_string(alg)).split(".")[-1].lower()
    except ValueError:
        return f"alg_0x{alg:04x}"


@dataclass
class ChipIdentity:
    """What the chip reports about itself."""

    manufacturer: str
    manufacturer_id: int
    vendor: str                  # printable text, or 0x + hex (vendor_text)
    firmware_version_1: int
    firmware_version_2: int
    family: str
    spec_level: int
    spec_revision: int
    spec_year: int
    spec_day: int
    fips_mode: bool
    modes: int
    algorithms: list[str] = field(default_factory=list)
    ecc_curves: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    command_codes: list[int] = field(default_factory=list)
    #: Vendor command codes, TPMA_CC.V kept (0x20000000 | commandIndex); never library ones.
    vendor_commands: list[int] = field(default_factory=list)
    pcr_banks: list[str] = field(default_factory=list)
    ek_certificates: dict[str, str] = field(default_factory=dict)
    endorsement: dict[str, Any] = field(default_factory=dict)   # harness.provenance.ek_summary
    platform_certificate: bool = False
    nv_index_max: int = 0
    nv_buffer_max: int = 0
    input_buffer: int = 0
    max_digest: int = 0
    lockout_max_tries: int = 0
    in_failure_mode: bool = False
    #: TPM_PT_VENDOR_STRING_1..4 as reported, 16 bytes in hex (NULs kept)
    vendor_hex: str = ""

    @property
    def firmware(self) -> str:
        """Firmware version as the vendor writes it (harness.audit.firmware, the manufacturer's
        rule): the one rendering of probe, run, reports and audit. The raw words stay in
        ``firmware_version_1`` / ``firmware_version_2``."""
        from harness.audit import firmware

        rule = firmware.format_for(self.manufacturer)
        return firmware.decode(self.firmware_version_1, self.firmware_version_2, rule).text

    @property
    def spec(self) -> str:
        return f"{self.family} level {self.spec_level} revision {self.spec_revision / 100:.2f}"

    def to_dict(self) -> dict:
        out = asdict(self)
        out["firmware"] = self.firmware
        out["spec"] = self.spec
        return out


def _properties(esapi, first: int, count: int = 64) -> dict[int, int]:
    out: dict[int, int] = {}
    prop = first
    while True:
        more, data = esapi.get_capability(TPM2_CAP.TPM_PROPERTIES, prop, count)
        props = data.data.tpmProperties
        for i in range(props.count):
            out[int(props.tpmProperty[i].property)] = int(props.tpmProperty[i].value)
        if not more or props.count == 0:
            return out
        prop = int(props.tpmProperty[props.count - 1].property) + 1


def _handles(esapi, first: int, count: int = 254) -> list[int]:
    out: list[int] = []
    handle = first
    top = (first & 0xFF000000) + 0x00FFFFFF
    while True:
        more, data = esapi.get_capability(TPM2_CAP.HANDLES, handle, count)
        hl = data.data.handles
        got = [int(hl.handle[i]) for i in range(hl.count)]
        out.extend(h for h in got if h <= top)
        if not more or not got or got[-1] >= top:
            return out
        handle = got[-1] + 1


def read_properties(esapi) -> dict[int, int]:
    """Every fixed (TPM_PT_FIXED) and variable (TPM_PT_VAR) property."""
    props = _properties(esapi, PT.PT_FIXED)
    props.update(_properties(esapi, PT.PT_VAR))
    return props


#: TPMA_CC.V (TPM 2.0 Part 2 §8.9): a vendor-specific command; with commandIndex
#: (bits 15:0) it is the command's TPM_CC.
TPMA_CC_V = 1 << 29


def command_lists(esapi) -> tuple[list[int], list[int]]:
    """``(library, vendor)`` command codes from TPM_CAP_COMMANDS.

    A vendor command's code keeps TPMA_CC.V (e.g. 0x20000307): masked to 16 bits it
    would pass for a library command it is not.
    """
    library: set[int] = set()
    vendor: set[int] = set()
    cc = 0
    while True:
        more, data = esapi.get_capability(TPM2_CAP.COMMANDS, cc, 254)
        attrs = data.data.command
        got = [int(attrs.commandAttributes[i]) for i in range(attrs.count)]
        for a in got:
            (vendor if a & TPMA_CC_V else library).add((a & 0xFFFF) | (a & TPMA_CC_V))
        if not more or not got:
            return sorted(library), sorted(vendor)
        last = got[-1]
        cc = ((last & 0xFFFF) | (last & TPMA_CC_V)) + 1


def list_commands(esapi) -> list[int]:
    """Library (TCG) command codes the chip implements; vendor commands excluded."""
    return command_lists(esapi)[0]


def list_algorithms(esapi) -> list[int]:
    more, data = esapi.get_capability(TPM2_CAP.ALGS, 0, 127)
    algs = data.data.algorithms
    return [int(algs.algProperties[i].alg) for i in range(algs.count)]


def list_curves(esapi) -> list[int]:
    more, data = esapi.get_capability(TPM2_CAP.ECC_CURVES, 0, 64)
    curves = data.data.eccCurves
    return [int(curves.eccCurves[i]) for i in range(curves.count)]


def list_pcr_banks(esapi) -> dict[str, int]:
    """Active PCR banks: hash name -> number of PCRs allocated."""
    more, data = esapi.get_capability(TPM2_CAP.PCRS, 0, 16)
    out = {}
    sel = data.data.assignedPCR
    for i in range(sel.count):
        s = sel.pcrSelections[i]
        bits = bytes(s.pcrSelect[j] for j in range(s.sizeofSelect))
        count = sum(bin(b).count("1") for b in bits)
        if count:
            out[_alg_name(int(s.hash))] = count
    return out


def _curve_name(curve: int) -> str:
    try:
        return str(TPM2_ECC.to_string(curve)).split(".")[-1].lower()
    except ValueError:
        return f"curve_0x{curve:04x}"


#: Public names of the algorithm and curve naming every module shares
#: ("sha256", "ecdaa", "nist_p256", "bn_p256", ...).
alg_name = _alg_name
curve_name = _curve_name


def _ek_summary(esapi, indices: list[int]) -> dict[str, Any]:
    from harness.provenance import ek_summary  # EK certificate serial and public key hash

    return ek_summary(esapi, indices)


def probe(esapi) -> ChipIdentity:
    """Read the chip's identity with GetCapability. Safe on any chip."""
    props = read_properties(esapi)
    family = _text(props.get(PT.FAMILY_INDICATOR, 0))
    vendor_raw = b"".join(props.get(p, 0).to_bytes(4, "big") for p in (
        PT.VENDOR_STRING_1, PT.VENDOR_STRING_2,
        PT.VENDOR_STRING_3, PT.VENDOR_STRING_4))
    modes = props.get(PT.MODES, 0)
    nv = _handles(esapi, 0x01C00000)
    commands, vendor_commands = command_lists(esapi)
    return ChipIdentity(
        manufacturer=_text(props.get(PT.MANUFACTURER, 0)).strip(),   # "STM " -> "STM"
        manufacturer_id=props.get(PT.MANUFACTURER, 0),
        vendor=vendor_text(vendor_raw),
        vendor_hex=vendor_raw.hex(),
        firmware_version_1=props.get(PT.FIRMWARE_VERSION_1, 0),
        firmware_version_2=props.get(PT.FIRMWARE_VERSION_2, 0),
        family=family,
        spec_level=props.get(PT.LEVEL, 0),
        spec_revision=props.get(PT.REVISION, 0),
        spec_year=props.get(PT.YEAR, 0),
        spec_day=props.get(PT.DAY_OF_YEAR, 0),
        fips_mode=bool(modes & PT.MODES_FIPS_140_2),
        modes=modes,
        algorithms=sorted(_alg_name(a) for a in list_algorithms(esapi)),
        ecc_curves=sorted(_curve_name(c) for c in list_curves(esapi)),
        commands=[command_name(c) for c in commands],
        command_codes=commands,
        vendor_commands=vendor_commands,
        pcr_banks=sorted(list_pcr_banks(esapi)),
        ek_certificates={f"0x{h:08x}": EK_CERT_INDICES[h] for h in nv if h in EK_CERT_INDICES},
        endorsement=_ek_summary(esapi, [h for h in EK_CERT_INDICES if h in nv]),
        platform_certificate=PLATFORM_CERT_INDEX in nv,
        nv_index_max=props.get(PT.NV_INDEX_MAX, 0),
        nv_buffer_max=props.get(PT.NV_BUFFER_MAX, 0),
        input_buffer=props.get(PT.INPUT_BUFFER, 0),
        max_digest=props.get(PT.MAX_DIGEST, 0),
        lockout_max_tries=props.get(PT.MAX_AUTH_FAIL, 0),
    )
