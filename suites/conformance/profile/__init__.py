"""The chip held to its chip profile (harness/profiles/*.yaml)."""
