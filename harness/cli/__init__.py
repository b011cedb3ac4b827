"""The ``tpmhil`` command line: thin argparse over library calls.

Each subcommand lives in its own module ``harness/cli/cmd_<name>.py`` that
defines ``COMMAND`` (the subcommand name), ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code).
"""
