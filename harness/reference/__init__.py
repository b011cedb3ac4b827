"""Software reference computations for TPM 2.0 (TPM 2.0 Part 1, Part 3).

Each module computes, independently of the chip, a value the conformance
suites compare with what the chip returns: KDFa/KDFe, object and NV names,
PCR extend and composite digests, policy digests, credential blobs.
Everything here is pure software (hashlib, ``cryptography``, tpm2-pytss for
names and MakeCredential, where the library is the better-kept copy);
nothing talks to a TPM.
"""
