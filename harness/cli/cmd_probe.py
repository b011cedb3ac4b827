"""``tpmhil probe``: print what the chip says it is."""

from __future__ import annotations

import argparse

from harness.cli.output import add_json_flag, emit

COMMAND = "probe"
HELP = "print the chip's identity (manufacturer, firmware, spec, algorithms, PCR banks, EK certs)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tpm", default=None, metavar="URI",
                   help="target string (default: $TPMHIL_TARGET or swtpm)")
    add_json_flag(p, "the chip's identity")


def run(args: argparse.Namespace) -> int:
    from harness.chip_profile import load_profile, profile_for_chip
    from harness.errors import ProfileError
    from harness.fixtures_support import open_session_esapi

    with open_session_esapi(args.tpm) as (target, esapi):
        from harness.identity import probe

        ident = probe(esapi)
    data = ident.to_dict()
    data["vendor_commands"] = [f"0x{cc:08x}" for cc in ident.vendor_commands]
    profile = None
    if target.profile_hint:  # the target names its chip (chip=..., a virtual chip)
        try:
            profile = load_profile(target.profile_hint)
        except ProfileError:
            profile = None
    profile = profile or profile_for_chip(ident.manufacturer, ident.vendor)
    data["profile"] = profile.name if profile else None
    shown = getattr(target, "display_name", target.uri.text)  # auth values redacted
    data["target"] = shown
    if args.json:
        emit(data)
        return 0
    rows = [
        ("target", shown),
        ("manufacturer", f"{ident.manufacturer} (0x{ident.manufacturer_id:08x})"),
        ("vendor strings", ident.vendor + (" (numbers, not text)"
                                           if ident.vendor.startswith("0x") else "")),
        ("firmware", f"{ident.firmware} (TPM_PT_FIRMWARE_VERSION_1=0x{ident.firmware_version_1:08x}, "
                     f"_2=0x{ident.firmware_version_2:08x})"),
        ("specification", f"{ident.spec} ({ident.spec_year}, day {ident.spec_day})"),
        ("FIPS 140 mode", "yes" if ident.fips_mode else "no"),
        ("PCR banks", ", ".join(ident.pcr_banks)),
        ("algorithms", ", ".join(ident.algorithms)),
        ("ECC curves", ", ".join(ident.ecc_curves)),
        ("commands", f"{len(ident.commands)} library commands advertised"),
        ("vendor commands", ", ".join(f"0x{cc:08x}" for cc in ident.vendor_commands) or "none"),
        ("EK certificates", ", ".join(f"{k} {v}" for k, v in ident.ek_certificates.items()) or "none"),
        ("platform cert", "yes" if ident.platform_certificate else "no"),
        ("lockout", f"max tries {ident.lockout_max_tries}"),
        ("profile", data["profile"] or "none matches (generic)"),
    ]
    for key, value in rows:
        print(f"{key:<16} {value}")
    return 0
