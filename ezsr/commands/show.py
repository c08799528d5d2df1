"""`ezsr show FILE -o OUT.png`: a picture (or GIF) of a window of an event file."""

from __future__ import annotations

import sys
from pathlib import Path

HELP = """Draw one window of an event file as a picture.

The window is --start/--window (event indices; default: the centred window of 15,000
events, EZSR's window length) or --t0/--dt (microseconds). The default representation
'ezsr' is EZSR's own visualisation: with the N-ImageNet sample,
  ezsr show ezsr_test_event.npz -o out.png --start 26502 --window 15000
reproduces EZSR's reference picture bit for bit. --gif writes an animation of
consecutive windows over the whole recording instead."""


def register(sub) -> None:
    from ezsr.ops import REPRESENTATIONS

    p = sub.add_parser("show", help="draw a window of an event file as a PNG (or a GIF)",
                       description=HELP, formatter_class=__import__("argparse").RawTextHelpFormatter)
    p.add_argument("file", help="event file (any format ezsr.io reads)")
    p.add_argument("-o", "--output", required=True, help="output picture (.png; .gif with --gif)")
    p.add_argument("--format", default=None, help="override the detected file format")
    p.add_argument("--representation", default="ezsr", choices=sorted(REPRESENTATIONS),
                   help="what to draw (default: ezsr)")
    p.add_argument("--start", type=int, default=None,
                   help="first event index of the window (default: the centred window)")
    p.add_argument("--window", type=int, default=15000, help="events per window (default 15000)")
    p.add_argument("--t0", type=int, default=None, help="window start in microseconds")
    p.add_argument("--dt", type=int, default=None, help="window length in microseconds")
    p.add_argument("--gif", action="store_true",
                   help="animate consecutive windows (of --window events, or --dt us)")
    p.add_argument("--frames", type=int, default=30, help="most frames in a GIF (default 30)")
    p.add_argument("--fps", type=float, default=10.0, help="GIF frames per second (default 10)")
    p.set_defaults(func=run)


def select_window(ev, start, window, t0, dt):
    """The Events of the window the arguments name (ValueError naming the argument)."""
    from ezsr.ops import default_window_start

    if (t0 is None) != (dt is None):
        raise ValueError("--t0 and --dt go together")
    if t0 is not None:
        if start is not None:
            raise ValueError("give either --start/--window or --t0/--dt, not both")
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


def write_gif(ev, args, out: Path) -> int:
    import torch
    from PIL import Image
    from tqdm import tqdm

    from ezsr import EventBatch
    from ezsr.ops import ezsr_visualize, representation
    from ezsr.render import render_batch

    if args.dt is not None:
        windows = list(ev.time_windows(args.dt))[: args.frames]
        if not windows:
            raise ValueError(f"{args.file}: no events to animate")
        batch = EventBatch.from_streams(windows, ev.width, ev.height)
    else:
        n = max(len(ev), 1)
        stride = max(args.window, (n - args.window) // max(args.frames - 1, 1) + 1)
        starts = list(range(0, max(n - args.window, 0) + 1, stride))[: args.frames]
        batch = EventBatch.from_windows(ev, torch.tensor(starts), args.window)
    if args.representation == "ezsr":
        pics = [ezsr_visualize(batch[i]) for i in tqdm(range(len(batch)), desc="frames",
                                                        disable=len(batch) < 8)]
    else:
        pics = render_batch(representation(batch, args.representation), args.representation)
    frames = [Image.fromarray(p) for p in pics]
    frames[0].save(out, save_all=True, append_images=frames[1:], loop=0,
                   duration=int(1000 / args.fps))
    print(f"wrote {out}: {len(frames)} frames of {args.representation}, "
          f"{frames[0].width}x{frames[0].height}")
    return 0


def run(args) -> int:
    from PIL import Image

    from ezsr import io
    from ezsr.render import render

    out = Path(args.output)
    if args.gif and out.suffix.lower() != ".gif":
        raise ValueError(f"--gif writes a GIF: give -o ending in .gif (got {out})")
    ev = io.read(args.file, format=args.format)
    if args.gif:
        return write_gif(ev, args, out)
    w, what = select_window(ev, args.start, args.window, args.t0, args.dt)
    pic = render(w, args.representation)
    Image.fromarray(pic).save(out)
    print(f"wrote {out}: {args.representation} of {what}, {len(w)} events, "
          f"{pic.shape[1]}x{pic.shape[0]}")
    return 0
