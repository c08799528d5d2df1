"""Format registry and detection shared by the readers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

if TYPE_CHECKING:
    from ezsr.events import Events


class EventFileError(ValueError):
    """A file that cannot be decoded: names the file, the byte offset and what was expected."""

    def __init__(self, path: str | Path, message: str, offset: int | None = None) -> None:
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{path}{where}: {message}")
        self.path, self.offset = str(path), offset


@dataclass
class Format:
    name: str
    extensions: tuple[str, ...]
    read: Callable[[str], Events]
    write: Optional[Callable[[str, Events], None]] = None
    # iter_chunks(path, n_events=..., dt_us=...) -> Events chunks
    iter_chunks: Optional[Callable[..., Iterator[Events]]] = None
    # sniff(head: bytes) -> bool; True when the first bytes identify this format
    sniff: Optional[Callable[[bytes], bool]] = None
    # True when an empty stream of this format is a 0-byte file (headerless records: .bin)
    empty_ok: bool = False
    # decoded_as(path) -> the format name the file is actually decoded as, where the file's
    # header can overrule this format (the EVT version names: the .raw header's version wins)
    decoded_as: Optional[Callable[[str], str]] = None
    # summary(path) -> dict for ezsr.io.summarize (`ezsr info`), where the file holds more
    # than the polarity events ezsr.io.read gives (Event Stream: ATIS threshold crossings,
    # colour and generic events)
    summary: Optional[Callable[[str], dict[str, Any]]] = None


_FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    _FORMATS[fmt.name] = fmt
    return fmt


def known_formats() -> list[str]:
    return sorted(_FORMATS)


def get_format(name: str) -> Format:
    if name not in _FORMATS:
        raise ValueError(f"unknown event file format {name!r}; known: {', '.join(known_formats())}")
    return _FORMATS[name]


def event_file_extensions() -> tuple[str, ...]:
    """File extensions of every registered format (lower case, with the dot: .npz, .raw, ...);
    what a dataset folder's recordings can end in."""
    return tuple(sorted({ext for fmt in _FORMATS.values() for ext in fmt.extensions}))


def writable_extensions() -> list[str]:
    """File extensions that select a format ezsr.io.write can write (.h5, .npz, ...)."""
    return [ext for fmt in _FORMATS.values() if fmt.write is not None for ext in fmt.extensions]


def format_of_extension(path: str | Path) -> Optional[Format]:
    """The format the file name's extension selects, or None."""
    low = str(path).lower()
    for fmt in _FORMATS.values():
        if any(low.endswith(ext) for ext in fmt.extensions):
            return fmt
    return None


def detect_format(path: str | Path, for_writing: bool = False) -> Format:
    """Magic bytes and header first, then the extension."""
    path = str(path)
    if not for_writing:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file")
        if os.path.isdir(path):
            raise EventFileError(path, "is a folder; expected an event file")
        with open(path, "rb") as f:
            head = f.read(4096)
        for fmt in _FORMATS.values():
            if fmt.sniff is not None and fmt.sniff(head):
                return fmt
    by_ext = format_of_extension(path)
    if by_ext is not None:
        return by_ext
    if for_writing:
        raise EventFileError(
            path,
            "cannot tell the event file format from the extension; "
            f"use one of {', '.join(writable_extensions())} or pass format=... "
            f"({', '.join(n for n in known_formats() if _FORMATS[n].write)})",
        )
    raise EventFileError(
        path,
        "cannot tell the event file format from its header or extension "
        f"(known formats: {', '.join(known_formats())}; pass format=..., "
        "--format on the command line)",
    )


def reader_format(path: str | Path, format: Optional[str] = None) -> Format:
    """The format that reads `path` (`format` overrides detection). A 0-byte file is an
    EventFileError: no format's file is empty, except the headerless .bin records."""
    path = str(path)
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        fmt = get_format(format) if format else format_of_extension(path)
        if fmt is None or not fmt.empty_ok:
            what = f"an event file ({fmt.name})" if fmt else "an event file"
            raise EventFileError(path, f"the file is empty (0 bytes), not {what}")
        return fmt
    return get_format(format) if format else detect_format(path)
