"""NV storage (TPM 2.0 Part 3 §31)."""
