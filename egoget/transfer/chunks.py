"""How a file is cut into ranged requests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChunkLayout:
    """Chunks of ``chunk_size`` bytes (the last one shorter). For a multipart S3 object,
    ``chunk_size`` is a whole number of upload parts so each part's MD5 can be taken in flight."""

    size: int
    chunk_size: int
    part_size: int | None

    @property
    def count(self) -> int:
        return -(-self.size // self.chunk_size) if self.size else 0

    def bounds(self, index: int) -> tuple[int, int]:
        start = index * self.chunk_size
        return start, min(self.size, start + self.chunk_size)

    @property
    def part_count(self) -> int:
        return -(-self.size // self.part_size) if self.part_size else 0


def layout_for(size: int, target_chunk_size: int, part_size: int | None) -> ChunkLayout:
    if part_size:
        parts_per_chunk = max(1, target_chunk_size // part_size)
        return ChunkLayout(size, part_size * parts_per_chunk, part_size)
    return ChunkLayout(size, max(1, target_chunk_size), None)
