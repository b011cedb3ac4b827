"""The TPM suites tpm-hil ships: ``pytest suites --tpm URI``.

functional/   the quick check every chip must pass (CI runs it on every target)
conformance/  the full TPM 2.0 Library conformance run
security/     published weaknesses (ROCA, TPM-Fail, reference-library flaws, EK credentials)
attestation/  measured boot, AK enrollment through the EK, quotes against the event log
"""
