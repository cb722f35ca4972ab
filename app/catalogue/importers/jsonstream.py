"""Stream the objects of a JSON array (or JSON Lines) file, each with its line number."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

_CHUNK = 1 << 16
# A single object larger than this is treated as malformed rather than buffered forever.
_MAX_OBJECT = 8 << 20
_SEPARATORS = " \t\r\n,[]"


class MalformedFile(ValueError):
    """The file is not valid JSON at the given line; nothing after it can be read."""


def open_text(path: Path) -> TextIO:
    """Open a .json or .json.gz file as UTF-8 text."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


def iter_json_objects(stream: TextIO, name: str) -> Iterator[tuple[int, Any]]:
    """Yield (line, value) for each top-level array element or JSON Lines value, in bounded memory."""
    decoder = json.JSONDecoder()
    buffer, pos, line, eof = "", 0, 1, False
    while True:
        # Skip separators between values, counting the lines they span.
        while True:
            start = pos
            while pos < len(buffer) and buffer[pos] in _SEPARATORS:
                pos += 1
            line += buffer.count("\n", start, pos)
            if pos < len(buffer) or eof:
                break
            buffer, pos = stream.read(_CHUNK), 0
            eof = buffer == ""
        if pos >= len(buffer):
            return
        try:
            value, end = decoder.raw_decode(buffer, pos)
        except json.JSONDecodeError as error:
            if eof or len(buffer) - pos > _MAX_OBJECT:
                at = line + buffer.count("\n", pos, error.pos)
                raise MalformedFile(f"{name}:{at}: malformed JSON: {error.msg}") from None
            more = stream.read(_CHUNK)
            eof = more == ""
            buffer, pos = buffer[pos:] + more, 0
            continue
        yield line, value
        line += buffer.count("\n", pos, end)
        pos = end
