"""`ezsr simulate INPUT -o OUT`: events from an image, a folder of images, or a folder of
video frames with a timestamps file."""

from __future__ import annotations

import os
from pathlib import Path

from ezsr.commands._common import device_arg

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
TIMESTAMPS = "timestamps.txt"

EPILOG = f"""\
INPUT kinds:
  image file            -> OUT is one event file (format from its extension; default .h5)
  folder of images      -> OUT is a folder, one event file per image (<stem>.<--ext>)
  folder of frames with a '{TIMESTAMPS}' file (or --timestamps FILE)
                        -> OUT is one event file simulated from the frame sequence
Timestamps file: one line per frame, either '<t_us>' (frames are the folder's image files
in sorted name order) or '<file name> <t_us>'; integer microseconds, strictly increasing;
blank lines and lines starting with '#' are ignored.
"""


def register(sub) -> None:
    import argparse

    p = sub.add_parser("simulate", help="simulate events from images or video frames",
                       description="Simulate event-camera output (ESIM rule) from a static "
                       "image under camera motion, a folder of images, or a frame sequence.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="image file, folder of images, or folder of frames")
    p.add_argument("-o", "--output", required=True, help="output event file or folder")
    p.add_argument("--motion", default="saccade", choices=["saccade", "trajectory", "affine"],
                   help="camera motion for static images (default: saccade)")
    p.add_argument("--seed", type=int, default=0, help="seed of motion and noise (default 0)")
    p.add_argument("--duration-us", type=int, default=None,
                   help="motion duration in µs (default: 300000 saccade, 100000 otherwise)")
    p.add_argument("--sensor", default="480x640", help="sensor HEIGHTxWIDTH (default 480x640)")
    p.add_argument("--contrast", type=float, default=0.2, help="ON/OFF threshold (default 0.2)")
    p.add_argument("--sigma", type=float, default=0.0, help="per-pixel threshold mismatch σ")
    p.add_argument("--refractory-us", type=int, default=0, help="refractory period in µs")
    p.add_argument("--timestamps", default=None, help=f"timestamps file (default INPUT/{TIMESTAMPS})")
    p.add_argument("--ext", default="h5", help="file extension for folder outputs (default h5)")
    p.add_argument("--device", default="cpu", type=device_arg, help="torch device (default cpu)")
    p.set_defaults(func=run)


def _images_in(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_EXTS)


def read_timestamps(path: Path, folder: Path) -> tuple[list[Path], list[int]]:
    """(frame files, timestamps) from a timestamps file (format in the command's help)."""
    names, ts = [], []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            ts.append(int(parts[-1]))
        except ValueError:
            raise ValueError(f"{path}:{n}: expected '<t_us>' or '<file> <t_us>', got {line!r}")
        if len(parts) == 2:
            names.append(folder / parts[0])
        elif len(parts) != 1:
            raise ValueError(f"{path}:{n}: expected '<t_us>' or '<file> <t_us>', got {line!r}")
    if names and len(names) != len(ts):
        raise ValueError(f"{path}: give a file name on every line or on none")
    files = names or _images_in(folder)
    if len(files) != len(ts):
        raise ValueError(f"{path}: {len(ts)} timestamps for {len(files)} frame images in {folder}")
    return files, ts


def run(args) -> int:
    import numpy as np

    from ezsr import io
    from ezsr.simulate import frames_to_events, image_to_events, load_image

    src, out = Path(args.input), Path(args.output)
    try:
        sensor = tuple(int(v) for v in args.sensor.lower().split("x"))
        assert len(sensor) == 2
    except (ValueError, AssertionError):
        raise ValueError(f"--sensor must be HEIGHTxWIDTH, e.g. 480x640, got {args.sensor!r}")
    kw = dict(motion=args.motion, sensor=sensor, duration_us=args.duration_us, seed=args.seed,
              contrast_pos=args.contrast, contrast_neg=args.contrast, sigma=args.sigma,
              refractory_us=args.refractory_us)
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such file or folder")
    if src.is_file():
        ev = image_to_events(load_image(str(src)).to(args.device), **kw)
        io.write(out, ev)
        print(f"{src} -> {out}: {len(ev)} events")
        return 0
    stamps = Path(args.timestamps) if args.timestamps else src / TIMESTAMPS
    if stamps.exists():
        files, ts = read_timestamps(stamps, src)
        frames = []
        for f in files:
            img = load_image(str(f))
            frames.append(img.numpy().transpose(1, 2, 0) if img.shape[0] == 3 else img[0].numpy())
        ev = frames_to_events(np.stack(frames), ts, args.contrast, args.contrast,
                              args.refractory_us, sigma=args.sigma, seed=args.seed,
                              device=args.device)
        io.write(out, ev)
        print(f"{len(files)} frames of {src} -> {out}: {len(ev)} events")
        return 0
    from tqdm import tqdm

    files = _images_in(src)
    if not files:
        raise ValueError(f"{src}: no images ({', '.join(IMAGE_EXTS)}) and no {TIMESTAMPS}")
    os.makedirs(out, exist_ok=True)
    for f in tqdm(files, desc="simulate", unit="image"):
        ev = image_to_events(load_image(str(f)).to(args.device), **kw)
        io.write(out / f"{f.stem}.{args.ext.lstrip('.')}", ev)
    print(f"{len(files)} images of {src} -> {out}/")
    return 0
