"""Authorization sessions and policies (TPM 2.0 Part 1 §19, Part 3 §11, §23)."""
