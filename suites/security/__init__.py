"""Security suite: published chip weaknesses (``security`` marker), the same
checks as ``tpmhil audit`` (harness.audit)."""
