"""A bucket as the destination: each file streams through the engine into a multipart upload,
a chunk at a time, and is never staged whole on local disk.

The copy is cut into the source's own upload parts, so a multipart source and its copy have
the same ETag; a single-part source is cut into chunks (one PutObject when it fits in one).
Every part is sent with its Content-MD5, which the store checks, and the copy's ETag is checked
against the MD5s hashed in flight; a promise nothing hashed in flight covers (a whole-file MD5
or SHA-256 of a file fetched in several chunks) is checked by reading the copy back. Upload ids
and finished chunks are in the ledger, so a killed run resumes the same upload.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..config import BucketTarget
from ..errors import (
    AccessDeniedError,
    AuthError,
    EgogetError,
    IntegrityError,
    NotFoundError,
    RemoteChangedError,
    RetryableError,
    TransferError,
    UnreachableError,
    UsageError,
)
from ..ledger import Ledger, PartialFile
from ..model import RemoteFile
from ..retry import RetryPolicy
from .chunks import ChunkLayout, layout_for
from .integrity import FileDigests, PartHasher, bare_etag, multipart_etag
from .sink import Opened, Resume, Sealed
from .verify import Digests, Promise, checks_text, verify

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from ..sources.s3 import S3Source

T = TypeVar("T")
# S3's smallest part but the last, and its most parts to an object.
MIN_UPLOAD_PART_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_PARTS = 10_000
# A chunk is held in memory until sent: one larger than this (a server without byte ranges
# gives one chunk of the whole file) is refused rather than held.
MAX_HELD_CHUNK_BYTES = 1024 * 1024 * 1024
_READ_BACK_BYTES = 8 * 1024 * 1024
# The parts the ledger has are not in the upload (aborted, expired, or never sent).
_UPLOAD_GONE_CODES = frozenset({"NoSuchUpload", "InvalidPart"})
# The body arrived damaged or too slowly: sent again, it may well pass.
_RESEND_CODES = frozenset({"BadDigest", "RequestTimeout", "IncompleteBody"})
DEST_CREDENTIALS_HINT = (
    "the destination bucket is written with --dest-profile NAME (default: the source's "
    "credentials); check that profile's keys and its write access to the bucket"
)
DEST_ENDPOINT_HINT = "check --dest-endpoint-url (default: the source's endpoint) and --proxy"


class BucketStore:
    """The few S3 calls a copy needs, with botocore's errors turned into egoget's, each naming
    the destination's own options."""

    def __init__(
        self,
        target: BucketTarget,
        source: S3Source,
        endpoint_url: str | None,
        retries: Callable[[], RetryPolicy],
    ):
        self.target = target
        self._source = source
        self._endpoint_url = endpoint_url
        # For the calls the engine does not retry (completing a file, the small files beside
        # it): a file whose every byte was sent must not fail on one 503.
        self._retries = retries
        self._client: S3Client | None = None
        self._lock = threading.Lock()

    def _call(self, key: str, request: Callable[[S3Client], T]) -> T:
        shown = f"s3://{self.target.bucket}/{key}"
        try:
            with self._lock:
                if self._client is None:
                    self._client = self._source.client_for(self.target.bucket)
                client = self._client
            return request(client)
        except Exception as exc:
            raise self._error(exc, shown) from exc

    def _error(self, exc: Exception, shown: str) -> EgogetError:
        response = getattr(exc, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        if code in _UPLOAD_GONE_CODES:
            return RemoteChangedError(
                f"the multipart upload of {shown} lost its parts ({code}: aborted, expired or "
                "never sent); copying the file again"
            )
        if code in _RESEND_CODES:
            return RetryableError(f"{shown}: the destination asked to send it again ({code})")
        error = self._source.classify(exc, self.target.bucket, shown)
        if isinstance(error, AuthError | AccessDeniedError):
            error.hint = DEST_CREDENTIALS_HINT
        elif isinstance(error, UnreachableError):
            error.hint = f"{error.hint}; {DEST_ENDPOINT_HINT}" if error.hint else DEST_ENDPOINT_HINT
        elif code and not isinstance(
            error, RetryableError | NotFoundError | AccessDeniedError | RemoteChangedError
        ):
            # The store's own words (InvalidPart, EntityTooSmall, BadDigest), not a status.
            detail = str(response.get("Error", {}).get("Message", "")).strip()
            error = TransferError(f"{shown}: the destination refused: {code} {detail}".rstrip())
        return error

    def start_upload(self, key: str) -> str:
        found = self._call(key, lambda c: c.create_multipart_upload(Bucket=self._b, Key=key))
        return found["UploadId"]

    def upload_part(
        self, key: str, upload_id: str, number: int, body: bytearray, md5: bytes
    ) -> tuple[str, bool]:
        """The part's ETag, and whether that ETag is its MD5 (not under SSE-KMS or SSE-C)."""
        found = self._call(
            key,
            lambda c: c.upload_part(
                Bucket=self._b, Key=key, UploadId=upload_id, PartNumber=number,
                Body=_unstubbed(body), ContentMD5=base64.b64encode(md5).decode(),
            ),
        )  # fmt: skip
        return found["ETag"], etag_is_md5(found)

    def complete(self, key: str, upload_id: str, part_md5s: list[bytes]) -> tuple[str, bool]:
        parts: Any = [
            {"PartNumber": number, "ETag": f'"{md5.hex()}"'}
            for number, md5 in enumerate(part_md5s, start=1)
        ]
        found = self._retries().run(
            lambda: self._call(
                key,
                lambda c: c.complete_multipart_upload(
                    Bucket=self._b, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                ),
            )
        )
        return found["ETag"], etag_is_md5(found)

    def abort(self, key: str, upload_id: str) -> None:
        # An upload already gone, or a store that refuses: the run goes on.
        with contextlib.suppress(EgogetError):
            self._call(
                key, lambda c: c.abort_multipart_upload(Bucket=self._b, Key=key, UploadId=upload_id)
            )

    def put(self, key: str, body: bytes | bytearray, md5: bytes) -> tuple[str, bool]:
        found = self._retries().run(
            lambda: self._call(
                key,
                lambda c: c.put_object(
                    Bucket=self._b, Key=key, Body=_unstubbed(body),
                    ContentMD5=base64.b64encode(md5).decode(),
                ),
            )
        )  # fmt: skip
        return found["ETag"], etag_is_md5(found)

    def put_changed(
        self, files: dict[str, Path], objects: dict[str, tuple[int, str]]
    ) -> list[tuple[str, EgogetError]]:
        """Put small local files (name below the prefix -> path) into the bucket, but those
        ``objects`` (the prefix's listing) shows it holds already; returns what failed."""
        failed: list[tuple[str, EgogetError]] = []
        for name, path in sorted(files.items()):
            try:
                body = path.read_bytes()
            except OSError as exc:
                failed.append((str(path), TransferError(f"cannot read {path}: {exc.strerror}")))
                continue
            md5 = hashlib.md5(body).digest()
            if objects.get(name) == (len(body), md5.hex()):
                continue
            try:
                self.put(self.target.key(name), body, md5)
            except EgogetError as exc:
                failed.append((self.target.url + name, exc))
        return failed

    def current(self, names: list[str]) -> dict[str, tuple[int, str]]:
        """Of these small files (names below the prefix), those in the bucket now: their size
        and bare ETag. For files other machines write too, the listing of the plan is old."""
        found: dict[str, tuple[int, str]] = {}
        for name in names:
            try:
                head = self._head(self.target.key(name))
            except NotFoundError:
                continue
            found[name] = (int(head["ContentLength"]), bare_etag(str(head["ETag"])) or "")
        return found

    def fetch_changed(
        self, names: list[str], folder: Path, objects: dict[str, tuple[int, str]]
    ) -> list[tuple[str, EgogetError]]:
        """Bring the bucket's copies of small files (names below the prefix) into ``folder``
        where they differ from the local ones; returns what failed."""
        failed: list[tuple[str, EgogetError]] = []
        for name in names:
            found = objects.get(name)
            path = folder / name
            if found is None or _md5_of(path) == found[1]:
                continue
            try:
                body = self._get(self.target.key(name))
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(body)
            except EgogetError as exc:
                failed.append((self.target.url + name, exc))
            except OSError as exc:
                failed.append((str(path), TransferError(f"cannot write {path}: {exc.strerror}")))
        return failed

    def _get(self, key: str) -> bytes:
        return self._call(key, lambda c: c.get_object(Bucket=self._b, Key=key)["Body"].read())

    def delete(self, key: str) -> None:
        with contextlib.suppress(EgogetError):  # the copy's own error is the one to report
            self._call(key, lambda c: c.delete_object(Bucket=self._b, Key=key))

    def _head(self, key: str) -> Any:
        return self._call(key, lambda c: c.head_object(Bucket=self._b, Key=key))

    def size_of(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def read_back(self, key: str, part_size: int | None = None) -> tuple[FileDigests, bytes]:
        """MD5 and SHA-256 of an object, read from the bucket, and with ``part_size`` the MD5s
        of its parts of that size, joined (to recompute a multipart ETag)."""

        def read(client: S3Client) -> tuple[FileDigests, bytes]:
            md5, sha256, part = hashlib.md5(), hashlib.sha256(), hashlib.md5()
            parts: list[bytes] = []
            in_part = 0
            body = client.get_object(Bucket=self._b, Key=key)["Body"]
            try:
                for block in body.iter_chunks(_READ_BACK_BYTES):
                    md5.update(block)
                    sha256.update(block)
                    view = memoryview(block)
                    while part_size and view:
                        take = min(len(view), part_size - in_part)
                        part.update(view[:take])
                        view, in_part = view[take:], in_part + take
                        if in_part == part_size:
                            parts.append(part.digest())
                            part, in_part = hashlib.md5(), 0
            finally:
                body.close()
            if in_part:
                parts.append(part.digest())
            return FileDigests(md5.hexdigest(), sha256.hexdigest()), b"".join(parts)

        return self._call(key, read)

    def destination(self, ledger: Ledger) -> BucketFolder:
        """The engine's Destination for a run recorded in ``ledger``."""
        return BucketFolder(self, ledger)

    def check(self) -> None:
        """The bucket exists, can be reached, and these credentials may list it: said before
        anything starts, within seconds."""
        try:
            self._call(
                self.target.prefix,
                lambda c: c.list_objects_v2(Bucket=self._b, Prefix=self.target.prefix, MaxKeys=1),
            )
        except NotFoundError as exc:
            endpoint = f" --endpoint-url {self._endpoint_url}" if self._endpoint_url else ""
            raise UsageError(
                f"the destination bucket {self.target.bucket} does not exist: nothing was copied",
                hint=f"create it first (`aws s3 mb s3://{self.target.bucket}{endpoint}`), or "
                "check the name and --dest-endpoint-url",
            ) from exc
        except RetryableError as exc:
            # botocore retried already: a destination that cannot be reached now will not be.
            raise UnreachableError(
                f"cannot reach the destination {self.target.url}: {exc.message}",
                hint=DEST_ENDPOINT_HINT,
            ) from exc

    def listing(self) -> dict[str, tuple[int, str]]:
        """Every object under the prefix: its name below the prefix -> (size, bare ETag)."""

        def pages(client: S3Client) -> dict[str, tuple[int, str]]:
            found = {}
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self._b, Prefix=self.target.prefix):
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.target.prefix) :]
                    found[name] = (int(item["Size"]), bare_etag(str(item["ETag"])) or "")
            return found

        return self._call(self.target.prefix, pages)

    @property
    def _b(self) -> str:
        return self.target.bucket


class BucketFolder:
    """A prefix in a bucket: the Destination of a copy. Each chunk is one upload part: the
    source's own parts, else chunks no smaller than S3's least part and no more than its
    10,000 parts to a file."""

    def __init__(self, store: BucketStore, ledger: Ledger):
        self._store = store
        self._ledger = ledger

    def describe(self, dest: str) -> str:
        return self._store.target.url + dest

    def open(
        self,
        file: RemoteFile,
        identity: str,
        part_size: int | None,
        target_chunk_size: int,
        record: PartialFile | None,
    ) -> Opened:
        size = file.size or 0
        key = self._store.target.key(file.dest)
        if (
            record is not None
            and record.upload_id is not None
            and record.uri == identity
            and record.size == size
            and record.validator == file.etag
            and record.part_size == part_size
        ):
            layout = layout_for(size, record.chunk_size, part_size)
            sink = MultipartUpload(self._store, self._ledger, file.dest, key, layout,
                                   record.upload_id, dict(record.done_chunks))  # fmt: skip
            return Opened(sink, layout, Resume(record.chunk_size, dict(record.done_chunks)))
        if record is not None and record.upload_id is not None:
            self._store.abort(key, record.upload_id)  # another version's parts
        chunk = part_size or max(target_chunk_size, MIN_UPLOAD_PART_BYTES,
                                 -(-size // MAX_UPLOAD_PARTS))  # fmt: skip
        layout = layout_for(size, chunk, part_size)
        if layout.chunk_size > MAX_HELD_CHUNK_BYTES and layout.count == 1:
            raise TransferError(
                f"{file.dest}: its server does not serve byte ranges, so a copy would hold all "
                f"{size:,} bytes in memory",
                hint="download it into a local folder (-o DIR) instead",
            )
        upload_id = None
        if part_size or layout.count > 1:
            upload_id = self._store.start_upload(key)
            self._ledger.start_partial(
                file.dest, identity, size, file.etag, layout.chunk_size, part_size, upload_id
            )
        sink = MultipartUpload(self._store, self._ledger, file.dest, key, layout, upload_id, {})
        return Opened(sink, layout, Resume())


class MultipartUpload:
    """The Sink of a copy: each chunk held in memory until it is sent as its part; a file of
    one chunk from a single-part source is one PutObject instead (``upload_id`` None)."""

    in_memory = True

    def __init__(
        self,
        store: BucketStore,
        ledger: Ledger,
        dest: str,
        key: str,
        layout: ChunkLayout,
        upload_id: str | None,
        sent: dict[int, bytes],
    ):
        self._store = store
        self._ledger = ledger
        self._dest = dest
        self._key = key
        self._layout = layout
        self._upload_id = upload_id
        self._chunks: dict[int, bytearray] = {}
        self._lock = threading.Lock()
        # chunk -> the MD5 of the part it was sent as: CompleteMultipartUpload names every
        # part by its ETag, which is its MD5.
        self._sent = sent
        self._completed = False

    def _buffer(self, index: int) -> bytearray:
        with self._lock:
            buffer = self._chunks.get(index)
            if buffer is None:
                start, end = self._layout.bounds(index)
                buffer = self._chunks[index] = bytearray(end - start)
            return buffer

    def write(self, data: memoryview, offset: int) -> int:
        index = offset // self._layout.chunk_size
        start = index * self._layout.chunk_size
        self._buffer(index)[offset - start : offset - start + len(data)] = data
        return 0

    def rehash(self, hasher: PartHasher, start: int, end: int) -> None:
        if end > start:  # no progress inside a chunk is ever recorded for a copy
            raise TransferError(f"{self._key}: no bytes of an unsent chunk are kept")

    def chunk_fetched(self, index: int, part_md5s: bytes) -> None:
        if self._upload_id is None:
            return  # sent whole at seal
        number = index + 1  # a chunk is one part
        etag, is_md5 = self._store.upload_part(
            self._key, self._upload_id, number, self._buffer(index), part_md5s
        )
        # The store checked the Content-MD5; an ETag that is the part's MD5 must agree.
        if is_md5 and bare_etag(etag) != part_md5s.hex():
            raise IntegrityError(
                f"{self._key}: part {number} stored with ETag {etag}, sent MD5 {part_md5s.hex()}"
            )
        with self._lock:
            self._sent[index] = part_md5s
            self._chunks.pop(index, None)

    def seal(self, promise: Promise, known: Digests, durable: bool) -> Sealed:
        layout = self._layout
        if self._upload_id is None:
            body = self._buffer(0) if layout.count else bytearray()
            checked = checks_text(verify(_HeldContent(body), promise, known))
            # Hashed in flight already (a file of one chunk); an empty file has no chunk.
            md5 = bytes.fromhex(known.md5) if known.md5 else hashlib.md5(body).digest()
            etag, is_md5 = self._store.put(self._key, body, md5)
            expected = md5.hex()
        else:
            part_md5s = [self._sent[i] for i in range(layout.count)]
            etag, is_md5 = self._store.complete(self._key, self._upload_id, part_md5s)
            self._completed = True
            expected = multipart_etag(b"".join(part_md5s))
        try:
            if is_md5 and bare_etag(etag) != expected:
                raise IntegrityError(f"the copy's ETag is {etag}, expected {expected}")
            if self._upload_id is not None:
                copy = CopyContent(self._store, self._key)
                checked = checks_text(verify(copy, promise, known))
        except IntegrityError:
            self._store.delete(self._key)  # a copy that failed its checks is not left behind
            raise
        self.close()
        return Sealed(checked, 0, bare_etag(etag))

    def discard(self) -> None:
        self.close()
        if self._upload_id is not None and not self._completed:
            self._store.abort(self._key, self._upload_id)
        self._ledger.drop_partial(self._dest)

    def close(self) -> None:
        with self._lock:
            self._chunks.clear()

    def local_error(self, exc: OSError) -> EgogetError:
        return TransferError(f"copying to {self._store.target.url}{self._dest}: {exc}")


def _md5_of(path: Path) -> str | None:
    try:
        return hashlib.md5(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _unstubbed(body: bytes | bytearray) -> bytes:
    """A part's buffer as botocore takes it, without the copy the stubs would ask for
    (botocore validates bytes, bytearray and files alike)."""
    return cast(bytes, body)


# S3's ETags are MD5s only for plaintext and SSE-S3 objects: not under SSE-KMS, DSSE-KMS
# ("aws:kms:dsse"), SSE-C, or an encryption S3 may add (the S3 API reference on ETag).
_MD5_ETAG_ENCRYPTIONS = frozenset({None, "AES256"})


def etag_is_md5(response: Any) -> bool:
    """Whether an upload's ETag is its MD5 (where it is not, the Content-MD5 still held)."""
    return response.get("ServerSideEncryption") in _MD5_ETAG_ENCRYPTIONS and not response.get(
        "SSECustomerAlgorithm"
    )


class _HeldContent:
    """A one-chunk file's bytes in memory, before they are sent."""

    def __init__(self, body: bytes | bytearray):
        self._body = body

    def size(self) -> int:
        return len(self._body)

    def digests(self) -> FileDigests:
        return FileDigests(
            hashlib.md5(self._body).hexdigest(), hashlib.sha256(self._body).hexdigest()
        )

    def multipart_etag(self, part_size: int) -> str:
        raise AssertionError("a file sent in one piece has no source parts to check")


class CopyContent:
    """An object in the bucket, read back (once) only for a digest nothing hashed in flight:
    a copy just made, or one found there."""

    def __init__(self, store: BucketStore, key: str, size: int | None = None):
        self._store = store
        self._key = key
        self._size = size
        self._read: tuple[FileDigests, bytes] | None = None
        self._part_size: int | None = None

    def size(self) -> int:
        if self._size is None:
            self._size = self._store.size_of(self._key)
        return self._size

    def _read_back(self, part_size: int | None) -> tuple[FileDigests, bytes]:
        if self._read is None or (part_size and part_size != self._part_size):
            self._read = self._store.read_back(self._key, part_size)
            self._part_size = part_size
        return self._read

    def digests(self) -> FileDigests:
        return self._read_back(self._part_size)[0]

    def multipart_etag(self, part_size: int) -> str:
        return multipart_etag(self._read_back(part_size)[1])
