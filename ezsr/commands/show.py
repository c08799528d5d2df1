"""`ezsr show FILE -o OUT.png`: a picture (or GIF) of a window of an event file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ezsr.commands._common import (
    add_window_args,
    bound_window,
    output_file,
    positive_int,
)
from ezsr.commands.info import format_arg

HELP = """Draw one window of an event file as a picture.

The window is --start/--window (event indices; default: the centred window of 15,000
events, EZSR's window length) or --t0/--dt (microseconds). The default representation
'ezsr' is EZSR's own visualisation: with the N-ImageNet sample,
  ezsr show ezsr_test_event.npz -o out.png --start 26502 --window 15000
reproduces EZSR's reference picture bit for bit.

--gif writes an animation of up to --frames windows of --window events (or of --dt us):
  with --start (or --t0): consecutive windows from there, until --frames or the end
  without: consecutive windows from the first event when the recording fits in --frames
    windows, else --frames windows spread evenly from its first to its last event, with
    gaps between them
A window at the end of the recording may be shorter."""

MAX_FPS = 100  # GIF frame delays are whole hundredths of a second


def fps_arg(value: str) -> float:
    """GIF frames per second: a number in (0, 100]."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 < x <= MAX_FPS:
        raise argparse.ArgumentTypeError(
            f"must be > 0 and <= {MAX_FPS} (a GIF frame lasts at least 1/100 s), got {value}"
        )
    return x


def register(sub) -> None:
    from ezsr.ops import REPRESENTATIONS

    p = sub.add_parser(
        "show",
        help="draw a window of an event file as a PNG (or a GIF)",
        description=HELP,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    p.add_argument("file", help="event file (any format ezsr.io reads)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output picture: .png (or .jpg, .bmp, .tif, .webp); .gif with --gif",
    )
    p.add_argument(
        "--format",
        default=None,
        type=format_arg,
        help="override the detected file format (see `ezsr info --help`)",
    )
    p.add_argument(
        "--representation",
        default="ezsr",
        choices=sorted(REPRESENTATIONS),
        help="what to draw (default: ezsr)",
    )
    add_window_args(p, "first event index of the window (default: the centred window)")
    p.add_argument("--t0", type=int, default=None, help="window start in microseconds")
    p.add_argument("--dt", type=positive_int, default=None, help="window length in microseconds")
    p.add_argument(
        "--gif",
        action="store_true",
        help="animate windows of --window events (or --dt us); which ones: above",
    )
    p.add_argument(
        "--frames", type=positive_int, default=30, help="most frames in a GIF (default 30)"
    )
    p.add_argument(
        "--fps",
        type=fps_arg,
        default=10.0,
        help=f"GIF frames per second, at most {MAX_FPS} (default 10)",
    )
    p.set_defaults(func=run)


def check_output(path: str, gif: bool) -> Path:
    """-o names a picture file PIL can write (a .gif with --gif); its folder is created."""
    from PIL import Image

    ext = Path(path).suffix.lower()
    if not os.path.isdir(path):
        if gif and ext != ".gif":
            raise ValueError(f"--gif writes a GIF: give -o ending in .gif (got {path})")
        if Image.registered_extensions().get(ext) not in Image.SAVE:
            what = f"unknown picture extension {ext!r}" if ext else "no file extension"
            raise ValueError(
                f"-o {path}: {what}; give .png (or .jpg, .bmp, .tif, .webp; .gif with --gif)"
            )
    return Path(output_file(path, "-o"))


def window_from_options(ev, start, window, t0, dt):
    """The Events of the window the arguments name (ValueError naming the argument)."""
    from ezsr.ops import default_window_start

    if (t0 is None) != (dt is None):
        raise ValueError("--t0 and --dt go together")
    if t0 is not None:
        if start is not None:
            raise ValueError("give either --start/--window or --t0/--dt, not both")
        if dt <= 0:
            raise ValueError(f"--dt must be > 0 us, got {dt}")
        w = ev.time_window(t0, dt)
        if not len(w):
            print(f"note: no events in [{t0}, {t0 + dt}) us", file=sys.stderr)
        return w, f"t in [{t0}, {t0 + dt}) us"
    if window <= 0:
        raise ValueError(f"--window must be > 0, got {window}")
    if start is None:
        start = default_window_start(len(ev), window)
    if start < 0 or (start >= len(ev) and len(ev)):
        raise ValueError(f"--start {start} is outside the recording of {len(ev)} events")
    return ev.window(start, window), f"events [{start}, {min(start + window, len(ev))})"


def check_size(path, width, height) -> None:
    if not width or not height:
        raise ValueError(f"{path}: no events and no sensor size in its header; nothing to draw")


def read_selected_window(args):
    """(Events, description) of the one window the arguments name, read from the file in
    bounded memory: a first pass counts the events and finds the sensor size
    (ezsr.io.summarize), a second reads up to the window's end (ezsr.io.read_window)."""
    from ezsr import io
    from ezsr.ops import default_window_start

    info = io.summarize(args.file, format=args.format)
    check_size(args.file, info["width"], info["height"])
    n, size = info["count"], {"width": info["width"], "height": info["height"]}
    if args.t0 is not None and args.dt is not None and args.start is None and args.dt > 0:
        w = io.read_window(args.file, t0=args.t0, dt=args.dt, format=args.format, **size)
        if not len(w):
            print(f"note: no events in [{args.t0}, {args.t0 + args.dt}) us", file=sys.stderr)
        return w, f"t in [{args.t0}, {args.t0 + args.dt}) us"
    if args.t0 is not None or args.dt is not None or args.window <= 0:
        empty = io.read_window(args.file, start=0, n=0, format=args.format, **size)
        return window_from_options(
            empty, args.start, args.window, args.t0, args.dt
        )  # raises the argument's error
    window = bound_window(args.window, n, args.file)
    start = default_window_start(n, window) if args.start is None else args.start
    if start < 0 or (start >= n and n):
        raise ValueError(f"--start {start} is outside the recording of {n} events")
    w = io.read_window(args.file, start=start, n=window, format=args.format, **size)
    return w, f"events [{start}, {min(start + window, n)})"


def _spread(first: int, last: int, k: int) -> list[int]:
    """k evenly spaced integers from first to last (the middle one when k == 1)."""
    if k == 1:
        return [(first + last) // 2]
    return [first + i * (last - first) // (k - 1) for i in range(k)]


def gif_windows(ev, args):
    """(EventBatch of the windows --gif draws, description); the choice is in HELP."""
    import torch

    from ezsr import EventBatch

    n, k = len(ev), args.frames
    if args.dt is not None:
        if args.start is not None:
            raise ValueError("give either --start/--window or --t0/--dt, not both")
        if not n:
            raise ValueError(f"{args.file}: no events to animate")
        dt, end = args.dt, ev.t_last + 1
        if args.t0 is not None:
            if args.t0 >= end:
                raise ValueError(
                    f"--t0 {args.t0} is after the last event of {args.file} (t = {ev.t_last} us)"
                )
            starts = list(range(args.t0, end, dt)[:k])  # a range slices lazily
            how = f"consecutive from t = {args.t0} us"
        elif -(-(end - ev.t_first) // dt) <= k:
            starts = list(range(ev.t_first, end, dt))
            how = "consecutive, the whole recording"
        else:
            starts = _spread(ev.t_first, end - dt, k)
            how = f"spread over t = {ev.t_first} .. {ev.t_last} us"
        batch = EventBatch.from_streams(
            [ev.time_window(t, dt) for t in starts], ev.width, ev.height
        )
        return batch, f"windows of {dt} us, {how}"
    if args.t0 is not None:
        raise ValueError("--t0 and --dt go together")
    w = args.window
    if args.start is not None:
        if args.start >= max(n, 1):
            raise ValueError(f"--start {args.start} is outside the recording of {n} events")
        starts = list(range(args.start, max(n, 1), w)[:k])
        how = f"consecutive from event {args.start}"
    elif n <= k * w:
        starts = list(range(0, max(n, 1), w))
        how = "consecutive, the whole recording"
    else:
        starts = _spread(0, n - w, k)
        how = f"spread over the {n} events"
    return EventBatch.from_windows(ev, torch.tensor(starts), w), f"windows of {w} events, {how}"


def write_gif(ev, args, out: Path) -> int:
    from PIL import Image
    from tqdm import tqdm

    from ezsr.ops import ezsr_visualize, representation
    from ezsr.render import render_batch

    batch, what = gif_windows(ev, args)
    if args.representation == "ezsr":
        pics = [
            ezsr_visualize(batch[i])
            for i in tqdm(range(len(batch)), desc="frames", disable=len(batch) < 8)
        ]
    else:
        pics = render_batch(representation(batch, args.representation), args.representation)
    frames = [Image.fromarray(p) for p in pics]
    frames[0].save(
        out, save_all=True, append_images=frames[1:], loop=0, duration=round(1000 / args.fps)
    )
    print(
        f"wrote {out}: {len(frames)} frames of {args.representation} ({what}), "
        f"{frames[0].width}x{frames[0].height}"
    )
    return 0


def run(args) -> int:
    from PIL import Image

    from ezsr import io
    from ezsr.render import render

    out = check_output(args.output, args.gif)
    if args.gif:
        ev = io.read(args.file, format=args.format)
        check_size(args.file, ev.width, ev.height)
        args.window = bound_window(args.window, len(ev), args.file)
        return write_gif(ev, args, out)
    w, what = read_selected_window(args)
    pic = render(w, args.representation)
    Image.fromarray(pic).save(out)
    print(
        f"wrote {out}: {args.representation} of {what}, {len(w)} events, "
        f"{pic.shape[1]}x{pic.shape[0]}"
    )
    return 0
