"""The items of a JSON file whose top level is a list, read a block at a time.

Ego-Exo4D's manifests are lists of up to a million entries (400 MB of JSON): ``json.load`` keeps
the text and every entry's dicts in memory at once, several GiB. This reader holds one block of
text and hands out one item at a time; the caller keeps only what it selects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, TextIO

from .errors import ManifestError

BLOCK_CHARS = 4 * 1024 * 1024
# An item that does not parse within this much text is a broken file, not a long entry (an
# entry is a few hundred characters): a syntax error costs this much reading, no more.
MAX_ITEM_CHARS = 16 * 1024 * 1024
_WHITESPACE = " \t\n\r"
_BETWEEN_ITEMS = re.compile(r"[ \t\n\r]*,[ \t\n\r]*")
# Past the end of a number, the most its cut-off tail can be (".5", "e+1"), with room to spare.
_LOOKAHEAD = 64


class _Reader:
    def __init__(self, stream: TextIO, origin: str):
        self.stream = stream
        self.origin = origin
        self.text = ""
        self.pos = 0
        self.eof = False
        # Lines in the text already dropped from the buffer, for messages.
        self.lines_before = 0

    def more(self) -> bool:
        """Append the next block, dropping what was read; False at the end of the file."""
        if self.eof:
            return False
        block = self.stream.read(BLOCK_CHARS)
        if not block:
            self.eof = True
            return False
        self.lines_before += self.text.count("\n", 0, self.pos)
        self.text = self.text[self.pos :] + block
        self.pos = 0
        return True

    def next_char(self) -> str:
        """The next character that is not whitespace ("" at the end), not consumed."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""

    def line(self, pos: int) -> int:
        return self.lines_before + self.text.count("\n", 0, pos) + 1

    def error(self, message: str, pos: int) -> ManifestError:
        # json's own messages end in "at" before the position it appends.
        message = message.removesuffix(" at")
        return ManifestError(
            f"{self.origin} is not valid JSON ({message}, line {self.line(pos)})",
            hint="the download may have been cut short; delete the file and rerun",
        )


def iter_json_list(stream: TextIO, origin: str) -> Iterator[Any]:
    """Each item of the list in ``stream``, in order. A file that is not a JSON list, or is cut
    short, raises ManifestError naming ``origin`` and the line."""
    reader = _Reader(stream, origin)
    decoder = json.JSONDecoder()
    first = reader.next_char()
    if first != "[":
        if first == "":
            raise reader.error("empty file", reader.pos)
        raise ManifestError(f"{origin} must be a JSON list of entries, not one starting {first!r}")
    reader.pos += 1
    if reader.next_char() == "]":
        reader.pos += 1
        _expect_end(reader)
        return
    while True:
        if reader.next_char() == "":
            raise reader.error("the list is cut short", reader.pos)
        try:
            item, end = decoder.raw_decode(reader.text, reader.pos)
        except json.JSONDecodeError as exc:
            # Most often the item runs on into the next block.
            if len(reader.text) - reader.pos < MAX_ITEM_CHARS and reader.more():
                continue
            raise reader.error(exc.msg, exc.pos) from exc
        if end + _LOOKAHEAD > len(reader.text) and not reader.eof and reader.more():
            # A number near the end of a block may go on in the next one ("1." + "5"): read
            # the item again with the next block behind it.
            continue
        yield item
        # The common case, in one step: a comma and the whitespace around it.
        between = _BETWEEN_ITEMS.match(reader.text, end)
        if between is not None and between.end() < len(reader.text):
            reader.pos = between.end()
            continue
        reader.pos = end
        separator = reader.next_char()
        reader.pos += 1
        if separator == "]":
            _expect_end(reader)
            return
        if separator != ",":
            raise reader.error("expecting ',' or ']' after an entry", reader.pos - 1)


def _expect_end(reader: _Reader) -> None:
    if reader.next_char() != "":
        raise reader.error("extra data after the list", reader.pos)
