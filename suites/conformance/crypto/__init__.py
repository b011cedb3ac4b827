"""Keys and cryptography: hashing, HMAC, symmetric, RSA, ECC, KATs (TPM 2.0 Part 3 §14-§17, §19-§20)."""
