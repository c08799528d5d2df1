"""N-ImageNet `.npz`: key `event_data` (structured x, y, t, p) or the older keys
`x_pos`, `y_pos`, `timestamp`, `polarity`. Sensor 640x480 by the dataset convention.
t is microseconds relative to the sample (N-ImageNet, github.com/82magnolia/n_imagenet)."""

from __future__ import annotations

import zipfile

import numpy as np

from ezsr.events import Events
from ezsr.io._registry import EventFileError, Format, register

WIDTH, HEIGHT = 640, 480


def _check_magic(path: str) -> None:
    """EventFileError unless the file starts as a zip archive does (np.load would try to
    unpickle anything else and suggest allow_pickle=True)."""
    with open(path, "rb") as f:
        head = f.read(6)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return
    hint = "; it is an .npy array (pass format=npy)" if head == b"\x93NUMPY" else ""
    raise EventFileError(
        path,
        f"not an .npz (zip) archive: it starts with {head[:4]!r}, expected b'PK\\x03\\x04'{hint}",
        offset=0,
    )


def read_npz(path: str) -> Events:
    _check_magic(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        # NotImplementedError: zipfile on an unsupported zip version or compression method
        raise EventFileError(path, f"not a readable .npz archive ({exc})") from exc
    with data:
        keys = set(data.files)
        try:
            if "event_data" in keys:
                ev = data["event_data"]
                names = ev.dtype.names or ()
                missing = [k for k in ("x", "y", "t", "p") if k not in names]
                if missing:
                    raise EventFileError(
                        path, f"'event_data' lacks fields {missing} (has {list(names)})"
                    )
                x, y, t, p = ev["x"], ev["y"], ev["t"], ev["p"]
            elif {"x_pos", "y_pos", "timestamp", "polarity"} <= keys:
                x, y, t, p = (data[k] for k in ("x_pos", "y_pos", "timestamp", "polarity"))
            else:
                raise EventFileError(
                    path,
                    "expected key 'event_data' or keys 'x_pos', 'y_pos', "
                    f"'timestamp', 'polarity'; found {sorted(keys)}",
                )
        except Exception as exc:  # also SyntaxError / TokenError from a damaged .npy header
            if isinstance(exc, EventFileError):
                raise
            raise EventFileError(
                path, f"damaged .npz member ({type(exc).__name__}: {exc})"
            ) from exc
    if np.issubdtype(np.asarray(t).dtype, np.floating):
        raise EventFileError(path, "timestamps are floating point; expected integer microseconds")
    n = len(x)
    if not (len(y) == len(t) == len(p) == n):
        raise EventFileError(
            path, f"columns have different lengths {len(x)}, {len(y)}, {len(t)}, {len(p)}"
        )
    width = max(WIDTH, int(np.max(x)) + 1 if n else 0)
    height = max(HEIGHT, int(np.max(y)) + 1 if n else 0)
    source = "convention" if (width, height) == (WIDTH, HEIGHT) else "data"
    try:
        return Events(
            np.asarray(x).astype(np.int16 if width < 32768 else np.int32),
            np.asarray(y).astype(np.int16 if height < 32768 else np.int32),
            np.asarray(t).astype(np.int64),
            np.asarray(p),
            width,
            height,
            source,
        )
    except ValueError as exc:  # Events' checks (time order, column dtypes): name the file
        raise EventFileError(path, str(exc)) from None


def write_npz(path: str, events: Events) -> None:
    """N-ImageNet style: `event_data` structured (x u2, y u2, t i8, p bool)."""
    cols = events.numpy()
    rec = np.empty(len(events), dtype=[("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "?")])
    rec["x"], rec["y"], rec["t"], rec["p"] = cols["x"], cols["y"], cols["t"], cols["p"] > 0
    np.savez_compressed(path, event_data=rec)


register(
    Format("npz", (".npz",), read_npz, write_npz, sniff=None)
)  # a zip archive says nothing event-specific: extension decides
