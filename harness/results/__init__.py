"""Results: the exchange log, the embedded store and the run folder."""
