"""The items of a JSON file whose top level is a list, read a block at a time, in pieces.

Ego-Exo4D's manifests are lists of up to a million entries (400 MB of JSON): ``json.load`` keeps
the text and every entry's dicts in memory at once, several GiB. This reader holds one block of
text and hands out one item at a time; the caller keeps only what it selects.

Making a million entries' dicts is most of the time to plan such a part (~7 s on one core), and
one core does it no faster: :func:`read_in_pieces` cuts a large file into pieces of whole items
and reads them in several processes at once.
"""

from __future__ import annotations

import codecs
import io
import json
import pickle
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar

from . import processes
from .errors import ManifestError

T = TypeVar("T")

BLOCK_CHARS = 4 * 1024 * 1024
# An item that does not parse within this much text is a broken file, not a long entry (an
# entry is a few hundred characters): a syntax error costs this much reading, no more.
MAX_ITEM_CHARS = 16 * 1024 * 1024
_WHITESPACE = " \t\n\r"
_BETWEEN_ITEMS = re.compile(r"[ \t\n\r]*,[ \t\n\r]*")
# Past the end of a number, the most its cut-off tail can be (".5", "e+1"), with room to spare.
_LOOKAHEAD = 64


class TextStream(Protocol):
    def read(self, size: int, /) -> str: ...


class _Reader:
    def __init__(self, stream: TextStream, origin: str):
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


def iter_json_list(stream: TextStream, origin: str) -> Iterator[Any]:
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


# Pieces below this size cost more to hand to another process than they save.
MIN_PIECE_BYTES = 32 * 1024 * 1024
MAX_PIECES = 8
# Where a cut is looked for: the first entry that starts within this many bytes of the mark.
_CUT_WINDOW = 1024 * 1024
_ITEM_AFTER_COMMA = re.compile(rb",[ \t\n\r]*\{")


@dataclass(frozen=True)
class Piece:
    """Bytes [start, end) of a JSON list file of ``size`` bytes. A piece is whole items: the
    first starts with the list's ``[``, the last ends with its ``]``, and a cut between two
    pieces falls on the comma between two items, which neither holds."""

    start: int
    end: int
    size: int


def whole_file(path: Path) -> Piece:
    size = path.stat().st_size
    return Piece(0, size, size)


def iter_json_piece(path: Path, piece: Piece, origin: str) -> Iterator[Any]:
    """The items of one piece of the list in ``path`` (all of them for :func:`whole_file`).
    A piece that is not a run of whole items raises ManifestError, as a broken file does."""
    with path.open("rb") as raw:
        raw.seek(piece.start)
        yield from iter_json_list(_PieceText(raw, piece), origin)


class _PieceText:
    """A piece's bytes as the text of a list of its own: a bracket added where it was cut."""

    def __init__(self, raw: BinaryIO, piece: Piece):
        self.raw = raw
        self.left = piece.end - piece.start
        self.head = "" if piece.start == 0 else "["
        self.tail = "" if piece.end == piece.size else "]"
        self.decoder = codecs.getincrementaldecoder("utf-8")()

    def read(self, size: int, /) -> str:
        text, self.head = self.head, ""
        if self.left > 0:
            block = self.raw.read(min(size, self.left))
            self.left = 0 if not block else self.left - len(block)
            text += self.decoder.decode(block, final=self.left == 0)
        else:
            text, self.tail = text + self.tail, ""
        return text


def split_json_list(path: Path, count: int, is_item: Callable[[Any], bool]) -> list[Piece]:
    """The list in ``path`` cut into at most ``count`` pieces of about equal bytes.

    Each cut is a guess: the first ``{`` after a comma past the mark whose object ``is_item``
    takes for an item (an entry, not one of the objects inside one). Reading the piece before a
    cut proves it: "[" + that piece + "]" reads as a list only if the piece is a run of whole
    items, so the comma it ends at lies between two items. A wrong guess makes that piece fail
    to read, never read wrongly."""
    size = path.stat().st_size
    starts = [0]
    cuts = []
    decoder = json.JSONDecoder()
    with path.open("rb") as raw:
        for k in range(1, count):
            mark = max(size * k // count, starts[-1] + 1)
            raw.seek(mark)
            window = raw.read(_CUT_WINDOW)
            for match in _ITEM_AFTER_COMMA.finditer(window):
                text = window[match.end() - 1 :].decode("utf-8", errors="replace")
                try:
                    item, _ = decoder.raw_decode(text)
                except json.JSONDecodeError:
                    continue
                if is_item(item):
                    cuts.append(mark + match.start())
                    starts.append(mark + match.end() - 1)
                    break
    ends = [*cuts, size]
    return [Piece(start, end, size) for start, end in zip(starts, ends, strict=True)]


def read_in_pieces(
    path: Path, origin: str, work: Callable[[Path, Piece, str], T], is_item: Callable[[Any], bool]
) -> Iterator[T]:
    """``work`` done on each piece of the list in ``path``, results in the file's order, each
    as soon as it is ready: the first piece here, the rest in other processes when the file is
    large and the machine has the CPUs (the caller takes in the first while they work).
    ``work`` must be picklable (a module's function, or a partial of one).

    The pieces before one that fails are right (each proved its cut); the rest of the file
    from there is read here, whole: for a cut guessed wrong that is the right result, and for a
    broken file the error is raised by reading the whole file again, so that it names the same
    line and entry as if the file had never been cut."""
    whole = whole_file(path)
    count = min(processes.processes_available(), MAX_PIECES, whole.size // MIN_PIECE_BYTES)
    pieces = split_json_list(path, count, is_item) if count > 1 else [whole]
    pool = processes.pool(len(pieces) - 1) if len(pieces) > 1 else None
    if pool is None:
        yield work(path, whole, origin)
        return
    try:
        others = [pool.submit(_attempt_elsewhere, work, path, p, origin) for p in pieces[1:]]
        for index, piece in enumerate(pieces):
            if index == 0:
                result = _attempt(work, path, piece, origin)
            else:
                result = _received(others[index - 1])
            if result is None:
                break
            yield result
        else:
            return
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    if piece.start == 0:
        yield work(path, whole, origin)
        return
    try:
        rest = work(path, Piece(piece.start, whole.end, whole.size), origin)
    except Exception:
        work(path, whole, origin)
        raise
    yield rest


def _received(sent: Future[bytes | None]) -> Any:
    """A piece's result from another process; None when it failed there, or the process died
    (killed for memory, say) or could not start."""
    from concurrent.futures.process import BrokenProcessPool  # a pool was made: cheap now

    try:
        body = sent.result()
    except (BrokenProcessPool, OSError):
        return None
    return None if body is None else pickle.loads(body)


def _attempt(
    work: Callable[[Path, Piece, str], T], path: Path, piece: Piece, origin: str
) -> T | None:
    try:
        return work(path, piece, origin)
    except Exception:
        return None  # read again, whole, by the caller


def _attempt_elsewhere(
    work: Callable[[Path, Piece, str], Any], path: Path, piece: Piece, origin: str
) -> bytes | None:
    result = _attempt(work, path, piece, origin)
    if result is None:
        return None
    # Without the memo that looks for objects seen twice (there are none): 4x faster to send.
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(result)
    return buffer.getvalue()
