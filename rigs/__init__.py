"""Rigs: climatic chambers, power supplies, their simulators, and environmental campaigns.

Layout: ``protocols/`` (small ABCs), ``drivers/`` (real instruments), ``sims/``
(simulators speaking the same wire protocols over real channels), ``setup.py``
(rig set-up YAML), ``campaign/`` (campaign files, runner, analysis).
"""
