"""Attestation: Certify, CertifyCreation, Quote, GetTime, audit digests (TPM 2.0 Part 3 §18)."""
