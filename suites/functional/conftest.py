"""The functional suite uses the plugin's fixtures only (tpm, tpm_raw, chip,
identity, expect_rc, raw_rc); nothing is built here."""
