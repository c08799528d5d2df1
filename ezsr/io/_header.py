"""Text headers of the binary formats: `%` lines (Prophesee) and `#` lines (jAER/AEDAT)."""

from __future__ import annotations

from ezsr.io._registry import EventFileError

MAX_HEADER_BYTES = 1 << 24  # 16 MiB: a longer "header" is garbage, not a header
# jAER's DAVIS chip classes by sensor (width, height), as AEDAT 2.0 headers name them
# (read by ezsr.io.aedat, written by ezsr.io._encode)
JAER_DAVIS_CHIPS = {
    (240, 180): "eu.seebetter.ini.chips.davis.DAVIS240C",
    (346, 260): "eu.seebetter.ini.chips.davis.Davis346B",
    (640, 480): "eu.seebetter.ini.chips.davis.Davis640",
    (208, 192): "eu.seebetter.ini.chips.davis.Davis208PixelParade",
}


def read_prefixed_lines(
    path: str, prefix: bytes, end_line: bytes | None = None, first_prefix: bytes | None = None
) -> tuple[list[str], int]:
    """Header lines starting with `prefix`, and the byte offset where the data begins.

    Stops at the first line not starting with prefix, or after `end_line` (e.g. "% end",
    "#!END-HEADER"). Raises EventFileError when a header line has no newline (a file cut
    off mid-header) or the header exceeds MAX_HEADER_BYTES.
    """
    lines: list[str] = []
    pos = 0
    with open(path, "rb") as f:
        while True:
            f.seek(pos)
            c = f.read(len(prefix))
            if c != prefix:
                break
            f.seek(pos)
            line = f.readline(MAX_HEADER_BYTES)
            if not line.endswith(b"\n"):
                if len(line) >= MAX_HEADER_BYTES or pos + len(line) >= MAX_HEADER_BYTES:
                    raise EventFileError(
                        path,
                        "header line longer than 16 MiB; expected a newline-terminated text header",
                        offset=pos,
                    )
                raise EventFileError(
                    path,
                    "file ends inside a header line; expected a "
                    "newline-terminated header followed by events",
                    offset=pos + len(line),
                )
            pos += len(line)
            text = line.rstrip(b"\r\n").decode("latin-1")
            lines.append(text)
            if pos > MAX_HEADER_BYTES:
                raise EventFileError(path, "text header longer than 16 MiB", offset=pos)
            if end_line is not None and line.rstrip(b"\r\n") == end_line:
                break
    return lines, pos
