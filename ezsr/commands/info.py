"""`ezsr info [FILE] [--json]`: the installation's kernels, or an event file's summary."""

from __future__ import annotations

import argparse
import json


def format_arg(value: str) -> str:
    """An event file format name that ezsr.io knows (argparse type of --format)."""
    from ezsr.io import known_formats

    if value not in known_formats():
        raise argparse.ArgumentTypeError(
            f"unknown format {value!r}; known: {', '.join(known_formats())}"
        )
    return value


def register(sub) -> None:
    p = sub.add_parser(
        "info",
        help="show available kernels, or summarise an event file",
        description="Without FILE: which kernels are built (cpu/cuda/"
        "reference-only), the torch version and CUDA arch. With FILE: its "
        "format (for .raw the EVT version decoded: evt2, evt21, evt3), event "
        "count, sensor size, time range and polarity split. An Event Stream "
        "(.es) file also shows its type; its count is every event in the file "
        "(as the event_stream package counts them), and for ATIS the change "
        "detections (the events ezsr reads, split into on/off) and the exposure "
        "threshold crossings.",
    )
    p.add_argument("file", nargs="?", help="event file to summarise")
    p.add_argument(
        "--format",
        default=None,
        type=format_arg,
        help="override the detected file format. For a .raw file, evt2/evt21/evt3 "
        "name the EVT version when its header names none; a header that names one "
        "wins (with a warning), and `format` reports the one decoded",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def file_summary(path: str, fmt: str | None = None) -> dict:
    """format (the one decoded), count, width, height, t_first, t_last, on, off of a file,
    read chunk by chunk (memory does not grow with the file; see ezsr.io.summarize)."""
    from ezsr import io

    return io.summarize(path, format=fmt)


def run(args) -> int:
    if args.file:
        out = file_summary(args.file, args.format)
    else:
        import ezsr

        out = ezsr.info()
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        width = max(len(k) for k in out)
        for k, v in out.items():
            print(f"{k:<{width}}  {v}")
    return 0
