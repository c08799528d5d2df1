"""The `ezsr` command line. Subcommands live in ezsr/commands/, one module each,
found automatically: each module defines `register(subparsers)` that adds its parser
and sets `func` (args -> exit code)."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import ezsr.commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ezsr",
        description="Event-camera zero-shot recognition: read event files, build "
        "representations, simulate events, classify, train and export encoders.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in sorted(pkgutil.iter_modules(ezsr.commands.__path__), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            importlib.import_module(f"ezsr.commands.{mod.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"ezsr {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:  # user errors (bad input, missing files)
        print(f"ezsr {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # anything else: one line, the traceback with -v
        if args.verbose:
            raise
        print(
            f"ezsr {args.command}: error: {type(exc).__name__}: {exc}\n"
            f"(run `ezsr -v {args.command} ...` for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
