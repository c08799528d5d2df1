"""Format registry and detection shared by the readers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional


class EventFileError(ValueError):
    """A file that cannot be decoded: names the file, the byte offset and what was expected."""

    def __init__(self, path, message: str, offset: int | None = None):
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{path}{where}: {message}")
        self.path, self.offset = str(path), offset


@dataclass
class Format:
    name: str
    extensions: tuple[str, ...]
    read: Callable
    write: Optional[Callable] = None
    iter_chunks: Optional[Callable] = None
    # sniff(head: bytes) -> bool; True when the first bytes identify this format
    sniff: Optional[Callable[[bytes], bool]] = None


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


def detect_format(path, for_writing: bool = False) -> Format:
    """Magic bytes and header first, then the extension."""
    path = str(path)
    if not for_writing:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file")
        with open(path, "rb") as f:
            head = f.read(4096)
        for fmt in _FORMATS.values():
            if fmt.sniff is not None and fmt.sniff(head):
                return fmt
    low = path.lower()
    for fmt in _FORMATS.values():
        if any(low.endswith(ext) for ext in fmt.extensions):
            return fmt
    raise EventFileError(path, "cannot tell the event file format from its header or extension "
                         f"(known formats: {', '.join(known_formats())}; pass format=...)")
