"""``tpmhil verify PACKAGE [--key LAB.pub]``: check an evidence package's integrity and origin.

Exit 0: every file matches, the signature holds, and the signer is the pinned
key (``--key`` or ``$TPMHIL_LAB_PUBKEY``). Exit 1: anything changed, a bad
signature, another signer than the pinned key, or no pinned key at all
("integrity OK, origin NOT checked"). Exit 2: not a package.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.output import add_json_flag, emit

COMMAND = "verify"
HELP = "check every file digest and the signature of an evidence package against the lab's key"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("package", type=Path, metavar="PACKAGE", help="evidence package folder")
    parser.add_argument("--key", type=Path, default=None,
                        help="the lab's pinned public key (PEM: the Ed25519 lab key's .pub.pem, or "
                             "the TPM signing key's public key); default $TPMHIL_LAB_PUBKEY. "
                             "Without one only integrity is checked, and verify exits 1")
    parser.add_argument("--tpm", default=None, metavar="URI",
                        help="for a package signed with --sign-with-tpm: prove with the lab TPM "
                             "itself (fresh credential activation) that the signing key lives in it")
    add_json_flag(parser, "verdict, counts, changed/missing/added files, signer, problems")


def _emit(args: argparse.Namespace, result, verdict: str, code: int) -> int:
    if args.json:
        emit({"verdict": verdict, "exit_code": code, "package": str(args.package),
              "files_listed": result.checked, "changed": result.changed,
              "missing": result.missing, "added": result.added,
              "signature_ok": result.signature_ok, "signer": result.signer,
              "key_fingerprint": result.key_fingerprint, "key_source": result.key_source,
              "origin_checked": result.origin_checked, "tpm": result.tpm or None,
              "problems": result.problems, "notes": result.notes})
    return code


def _results_folder_hint(package: Path) -> None:
    """A results folder given instead of its package: say where the package is.

    Raises:
        ConfigError: ``package`` is a results folder (store.sqlite, no manifest.json).
    """
    from harness.errors import ConfigError

    if (package / "manifest.json").exists() or not (package / "store.sqlite").is_file():
        return
    report = package / "report"
    if (report / "manifest.json").is_file():
        raise ConfigError(f"{package} is a results folder; the package is {report} "
                          f"(tpmhil verify {report})")
    raise ConfigError(f"{package} is a results folder and has no package yet; "
                      f"`tpmhil report {package}` builds it in {report}")


def run(args: argparse.Namespace) -> int:
    from reports.manifest import verify_package

    _results_folder_hint(args.package)
    result = verify_package(args.package, args.key)
    if args.tpm:
        from reports.manifest import PackageError
        from reports.tpm_signing import check_live

        if result.signer != "tpm-ecdsa-p256":
            raise PackageError(f"{args.package}: --tpm needs a package signed with "
                               f"--sign-with-tpm; this one is signed by {result.signer}")
        live = check_live(args.package, args.tpm)
        result.problems.extend(live)
        if not live:
            result.notes.append("live check: the lab TPM re-derived the signing key and "
                                "activated a fresh credential for it through its EK")
    for label, names in (("changed", result.changed), ("missing", result.missing),
                         ("added", result.added)):
        for name in names:
            print(f"{label}: {name}")
    for problem in result.problems:
        print(f"problem: {problem}")
    for note in result.notes:
        print(f"note: {note}")
    if result.tpm:
        print(f"TPM: key resident in the TPM with EK certificate serial "
              f"{result.tpm.get('ek_certificate_serial')} (issuer "
              f"{result.tpm.get('ek_certificate_issuer')}), EK public sha256 "
              f"{result.tpm.get('ek_public_sha256')}")
    counts = (f"{result.checked} files listed, {len(result.changed)} changed, "
              f"{len(result.missing)} missing, {len(result.added)} added")
    signer = f"{result.signer} key {result.key_fingerprint or '?'}"
    if not result.ok:
        print(f"{args.package}: FAILED: {counts}; signature "
              f"{'valid' if result.signature_ok else 'INVALID'} ({signer})")
        return _emit(args, result, "FAILED", 1)
    if not result.origin_checked:
        print(f"{args.package}: integrity OK, origin NOT checked: no --key (or "
              f"$TPMHIL_LAB_PUBKEY) pinned; {counts}; signed by {signer}, which is only the key "
              "the package carries")
        return _emit(args, result, "INTEGRITY OK, ORIGIN NOT CHECKED", 1)
    print(f"{args.package}: OK: {counts}; signature valid under the {result.key_source} "
          f"({signer})")
    return _emit(args, result, "OK", 0)
