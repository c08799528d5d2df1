"""`ezsr simulate INPUT -o OUT`: events from an image, a folder of images, or a folder of
video frames with a timestamps file."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from ezsr.commands._common import (
    device_arg,
    non_negative_int,
    output_file,
    positive_float,
    positive_int,
)

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
TIMESTAMPS = "timestamps.txt"

EPILOG = f"""\
INPUT kinds:
  image file            -> OUT is one event file (format from its extension: .h5, .npz,
                           .raw, ...; an OUT without extension gets .<--ext>, default .h5)
  folder of images      -> OUT is a folder, one event file per image (<stem>.<--ext>)
  folder of frames with a '{TIMESTAMPS}' file (or --timestamps FILE)
                        -> OUT is one event file (as for an image file) simulated from
                           the frame sequence
Timestamps file: one line per frame, either '<t_us>' (frames are the folder's image files
in sorted name order) or '<file name> <t_us>'; integer microseconds, strictly increasing;
blank lines and lines starting with '#' are ignored.
"""


def sensor_arg(value: str) -> tuple[int, int]:
    """HEIGHTxWIDTH, both >= 1."""
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected HEIGHTxWIDTH, e.g. 480x640, got {value!r}"
        ) from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"height and width must be >= 1, got {value}")
    return h, w


def non_negative_float(value: str) -> float:
    """A finite number >= 0."""
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not (math.isfinite(x) and x >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {value}")
    return x


def ext_arg(value: str) -> str:
    """An event file extension ezsr.io writes, without the dot (h5, npz, raw, ...)."""
    from ezsr.io._registry import writable_extensions

    ext = value.lower().lstrip(".")
    if f".{ext}" not in writable_extensions():
        raise argparse.ArgumentTypeError(
            f"unknown event file extension {value!r}; use one of "
            f"{', '.join(e[1:] for e in writable_extensions())}"
        )
    return ext


def register(sub) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate events from images or video frames",
        description="Simulate event-camera output (ESIM rule) from a static "
        "image under camera motion, a folder of images, or a frame sequence.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="image file, folder of images, or folder of frames")
    p.add_argument(
        "-o", "--output", required=True, help="output event file, or folder for a folder of images"
    )
    p.add_argument(
        "--motion",
        default="saccade",
        choices=["saccade", "trajectory", "affine"],
        help="camera motion for static images (default: saccade)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of motion and noise (default 0)")
    p.add_argument(
        "--duration-us",
        type=positive_int,
        default=None,
        help="motion duration in µs (default: 300000 saccade, 100000 otherwise)",
    )
    p.add_argument(
        "--sensor", default="480x640", type=sensor_arg, help="sensor HEIGHTxWIDTH (default 480x640)"
    )
    p.add_argument(
        "--contrast", type=positive_float, default=0.2, help="ON/OFF threshold, > 0 (default 0.2)"
    )
    p.add_argument(
        "--sigma",
        type=non_negative_float,
        default=0.0,
        help="per-pixel threshold mismatch σ (default 0)",
    )
    p.add_argument(
        "--refractory-us",
        type=non_negative_int,
        default=0,
        help="refractory period in µs (default 0)",
    )
    p.add_argument(
        "--timestamps",
        default=None,
        help=f"timestamps file of a folder of frames (default INPUT/{TIMESTAMPS})",
    )
    p.add_argument(
        "--ext",
        default="h5",
        type=ext_arg,
        help="extension of the event files written into a folder -o, and of an -o "
        "given without one (default h5)",
    )
    p.add_argument("--device", default="cpu", type=device_arg, help="torch device (default cpu)")
    p.set_defaults(func=run)


def _images_in(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_EXTS)


def read_timestamps(path: Path, folder: Path) -> tuple[list[Path], list[int]]:
    """(frame files, timestamps) from a timestamps file (format in the command's help)."""
    names, ts = [], []
    prev = None
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            t = int(parts[-1])
        except ValueError:
            raise ValueError(
                f"{path}:{n}: expected '<t_us>' or '<file> <t_us>', got {line!r}"
            ) from None
        if len(parts) == 2:
            names.append(folder / parts[0])
            if not names[-1].is_file():
                raise ValueError(f"{path}:{n}: frame {parts[0]}: no such file in {folder}")
        elif len(parts) != 1:
            raise ValueError(f"{path}:{n}: expected '<t_us>' or '<file> <t_us>', got {line!r}")
        if prev is not None and t <= prev:
            raise ValueError(
                f"{path}:{n}: {t} us is not after the previous frame's {prev} us; "
                "the timestamps must be strictly increasing"
            )
        ts.append(t)
        prev = t
    if names and len(names) != len(ts):
        raise ValueError(f"{path}: give a file name on every line or on none")
    files = names or _images_in(folder)
    if len(files) != len(ts):
        raise ValueError(f"{path}: {len(ts)} timestamps for {len(files)} frame images in {folder}")
    return files, ts


def event_file(path: Path, ext: str) -> Path:
    """-o of a single event file: its extension names a writable format (none: .<ext> is
    appended, with a note); its folder is created; a folder is an error."""
    from ezsr.io._registry import writable_extensions

    if os.path.isdir(path):
        raise ValueError(f"-o {path}: is a folder; this input gives one event file")
    if not path.suffix:
        path = path.with_name(f"{path.name}.{ext}")
        print(f"note: -o has no extension; writing {path}", file=sys.stderr)
    elif path.suffix.lower() not in writable_extensions():
        raise ValueError(
            f"-o {path}: unknown event file extension {path.suffix!r}; use one of "
            f"{', '.join(writable_extensions())}"
        )
    return Path(output_file(str(path), "-o"))


def event_folder(path: Path, src: Path) -> Path:
    """-o of a folder of images: a folder (created), not a file or an event file name."""
    from ezsr.io._registry import writable_extensions

    hint = (
        f"a folder of images needs -o to be a folder (one event file per image); for a "
        f"frame sequence put {TIMESTAMPS} in {src} or pass --timestamps"
    )
    if path.exists() and not path.is_dir():
        raise ValueError(f"-o {path}: is a file; {hint}")
    if not path.exists() and path.suffix.lower() in writable_extensions():
        raise ValueError(f"-o {path}: names an event file; {hint}")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"-o {path}: cannot create the folder ({exc})") from exc
    return path


def run(args) -> int:
    import numpy as np

    from ezsr import io
    from ezsr.simulate import frames_to_events, image_to_events, load_image

    src, out = Path(args.input), Path(args.output)
    kw = dict(
        motion=args.motion,
        sensor=args.sensor,
        duration_us=args.duration_us,
        seed=args.seed,
        contrast_pos=args.contrast,
        contrast_neg=args.contrast,
        sigma=args.sigma,
        refractory_us=args.refractory_us,
    )
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such file or folder")
    if args.timestamps and not src.is_dir():
        raise ValueError(f"--timestamps goes with a folder of frames; {src} is a file")
    if args.timestamps and not os.path.isfile(args.timestamps):
        raise FileNotFoundError(f"--timestamps {args.timestamps}: no such file")
    if src.is_file():
        out = event_file(out, args.ext)
        ev = image_to_events(load_image(str(src)).to(args.device), **kw)
        io.write(out, ev)
        print(f"{src} -> {out}: {len(ev)} events")
        return 0
    stamps = Path(args.timestamps) if args.timestamps else src / TIMESTAMPS
    if stamps.exists():
        files, ts = read_timestamps(stamps, src)
        out = event_file(out, args.ext)
        frames = []
        for f in files:
            img = load_image(str(f))
            frames.append(img.numpy().transpose(1, 2, 0) if img.shape[0] == 3 else img[0].numpy())
        ev = frames_to_events(
            np.stack(frames),
            ts,
            args.contrast,
            args.contrast,
            args.refractory_us,
            sigma=args.sigma,
            seed=args.seed,
            device=args.device,
        )
        io.write(out, ev)
        print(f"{len(files)} frames of {src} -> {out}: {len(ev)} events")
        return 0
    from tqdm import tqdm

    files = _images_in(src)
    if not files:
        raise ValueError(f"{src}: no images ({', '.join(IMAGE_EXTS)}) and no {TIMESTAMPS}")
    out = event_folder(out, src)
    for f in tqdm(files, desc="simulate", unit="image"):
        ev = image_to_events(load_image(str(f)).to(args.device), **kw)
        io.write(out / f"{f.stem}.{args.ext}", ev)
    print(f"{len(files)} images of {src} -> {out}/")
    return 0
