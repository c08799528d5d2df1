"""Subcommands of the `ezsr` command line, one module each (see ezsr/cli.py)."""
