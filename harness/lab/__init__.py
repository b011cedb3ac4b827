"""Lab scale: labgrid places, fan-out runs, the lab-wide PostgreSQL store, trend and diff.

- :mod:`harness.lab.coordinator`: a labgrid coordinator session (places, acquire, TPM endpoint).
- :mod:`harness.lab.fanout`: ``tpmhil run --places MATCH``.
- :mod:`harness.lab.lg_env`: labgrid ``--lg-env`` files as ``labgrid://`` target strings.
- :mod:`harness.lab.runs`, :mod:`harness.lab.sources`: runs from folders or the database.
- :mod:`harness.lab.store_reader`: a results store read as untrusted data (read-only, only the
  lab schema's columns, every value type-checked).
- :mod:`harness.lab.names`: names that become paths (one safe component under a base).
- :mod:`harness.lab.pg_schema`, :mod:`harness.lab.ingest`: the database and loading it.
- :mod:`harness.lab.analysis`: trend and diff.
- :mod:`harness.lab.testbed`, :mod:`harness.lab.pgtemp`: a whole lab and a throwaway
  PostgreSQL on localhost, for tests, benchmarks and demos.
"""
