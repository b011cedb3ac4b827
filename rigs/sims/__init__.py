"""Instrument simulators: each speaks its instrument's real wire protocol over a
real channel (pymodbus server on loopback, pty, loopback TCP) on top of the
simple physics in :mod:`rigs.sims.physics`. SIMULATION: nothing here measures
anything real."""
