"""Event file I/O: ezsr.io.read / iter_chunks / write, one module per format;
summarize / read_window / count_events give a file's facts or one window in bounded memory.

Formats register a reader (and optionally a writer and a chunked iterator) in
ezsr.io._registry; detection tries magic bytes/header first, then the extension.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Literal, cast, overload

from ezsr.events import Events
from ezsr.io import aedat as _aedat  # noqa: F401,E402
from ezsr.io import es as _es  # noqa: F401,E402

# importing a format module registers it; sniffing order = import order
from ezsr.io import hdf5 as _hdf5  # noqa: F401,E402
from ezsr.io import nmnist as _nmnist  # noqa: F401,E402
from ezsr.io import npy as _npy  # noqa: F401,E402
from ezsr.io import npz as _npz  # noqa: F401,E402
from ezsr.io import prophesee as _prophesee  # noqa: F401,E402
from ezsr.io._registry import (
    EventFileError,
    detect_format,
    event_file_extensions,
    get_format,
    known_formats,
    reader_format,
)


@overload
def read(
    path: str | Path, format: str | None = None, return_format: Literal[False] = False
) -> Events: ...
@overload
def read(
    path: str | Path, format: str | None = None, *, return_format: Literal[True]
) -> tuple[Events, str]: ...
@overload
def read(
    path: str | Path, format: str | None, return_format: Literal[True]
) -> tuple[Events, str]: ...


def read(
    path: str | Path, format: str | None = None, return_format: bool = False
) -> Events | tuple[Events, str]:
    """Read a whole event file into ezsr.Events.

    format: override detection (see known_formats()). With return_format=True,
    returns (events, format_name), the name of the format the file was decoded as (an
    EVT version override gives way to the version a .raw header names, with a warning).
    A 0-byte file is an EventFileError (except .bin, whose empty stream is 0 bytes).
    """
    fmt = reader_format(path, format)
    ev = fmt.read(str(path))
    if not return_format:
        return ev
    return ev, fmt.decoded_as(str(path)) if fmt.decoded_as else fmt.name


def iter_chunks(
    path: str | Path,
    n_events: int | None = None,
    dt_us: int | None = None,
    format: str | None = None,
) -> Iterator[Events]:
    """Yield consecutive Events chunks of n_events events or dt_us microseconds.

    Formats with a streaming decoder never hold the whole file; the others read it
    once and slice.
    """
    if (n_events is None) == (dt_us is None):
        raise ValueError("iter_chunks: give exactly one of n_events and dt_us")
    fmt = reader_format(path, format)
    if fmt.iter_chunks is not None:
        yield from fmt.iter_chunks(str(path), n_events=n_events, dt_us=dt_us)
        return
    ev = fmt.read(str(path))
    yield from (ev.count_windows(n_events) if n_events else ev.time_windows(cast(int, dt_us)))


from ezsr.io._summary import count_events, read_window, summarize  # noqa: E402


def write(path: str | Path, events: Events, format: str | None = None) -> None:
    """Write events; the format comes from `format` or the file extension."""
    fmt = get_format(format) if format else detect_format(path, for_writing=True)
    if fmt.write is None:
        raise ValueError(f"{path}: format '{fmt.name}' cannot be written")
    fmt.write(str(path), events)


__all__ = [
    "read",
    "iter_chunks",
    "write",
    "summarize",
    "read_window",
    "count_events",
    "event_file_extensions",
    "EventFileError",
    "known_formats",
]
