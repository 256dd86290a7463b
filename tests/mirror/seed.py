"""Deterministic synthetic objects shaped like the real sources (Ego4D manifests and
per-university buckets). Content is a function of the key, so a checker can regenerate any
object's bytes instead of keeping them in memory."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from boto3.s3.transfer import TransferConfig

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB = 1024 * 1024
CONSORTIUM_BUCKET = "ego4d-consortium-sharing"
# The real university -> bucket map for a few universities (DESIGN.md section 4).
DEMO_UNIVERSITY_BUCKETS = {
    "cmu": "ego4d-cmu",
    "georgiatech": "ego4d-georgiatech",
    "unict": "ego4d-unict-milan",
}
DEMO_RELEASE = "v2_1"
MULTIPART_PART_SIZE = 5 * MIB  # S3's minimum part size: the smallest realistic multipart layout


@dataclass(frozen=True)
class MirrorObject:
    bucket: str
    key: str
    size: int
    multipart: bool

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


_BLOCK_BYTES = 4 * MIB


def _block(key: str, index: int, size: int) -> bytes:
    seed = int.from_bytes(hashlib.sha256(f"{key}#{index}".encode()).digest()[:8], "big")
    return random.Random(seed).randbytes(size)


def object_bytes(key: str, size: int) -> bytes:
    """The content of the object ``key``: deterministic, incompressible, made in 4 MiB blocks."""
    return b"".join(
        _block(key, i, min(_BLOCK_BYTES, size - start))
        for i, start in enumerate(range(0, size, _BLOCK_BYTES))
    )


class ObjectReader(io.RawIOBase):
    """``object_bytes(key, size)`` as a stream, so multi-GiB objects upload in flat memory."""

    def __init__(self, key: str, size: int):
        self._key = key
        self._size = size
        self._offset = 0
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._buffer and self._offset < self._size:
            index = self._offset // _BLOCK_BYTES
            self._buffer = _block(self._key, index, min(_BLOCK_BYTES, self._size - self._offset))
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        self._offset += n
        return n


def put_object(
    client: S3Client, bucket: str, key: str, body: bytes | io.RawIOBase, multipart: bool
) -> None:
    if multipart or not isinstance(body, bytes):
        client.upload_fileobj(
            io.BytesIO(body) if isinstance(body, bytes) else io.BufferedReader(body),
            bucket,
            key,
            Config=TransferConfig(
                multipart_threshold=MULTIPART_PART_SIZE,
                multipart_chunksize=MULTIPART_PART_SIZE,
                max_concurrency=4,
            ),
        )
    else:
        client.put_object(Bucket=bucket, Key=key, Body=body)


def ensure_bucket(client: S3Client, bucket: str) -> None:
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)


def seed_object(client: S3Client, bucket: str, key: str, size: int) -> MirrorObject:
    multipart = size > 2 * MULTIPART_PART_SIZE
    ensure_bucket(client, bucket)
    put_object(client, bucket, key, object_bytes(key, size), multipart)
    return MirrorObject(bucket, key, size, multipart)


def seed_demo(
    client: S3Client, video_sizes_mib: tuple[float, ...] = (3, 7, 12, 24, 1.5, 18)
) -> list[MirrorObject]:
    """An Ego4D-shaped release: metadata, manifests, annotation files and full_scale videos
    spread over university buckets (the larger ones uploaded as multipart objects)."""
    for bucket in (CONSORTIUM_BUCKET, *DEMO_UNIVERSITY_BUCKETS.values()):
        ensure_bucket(client, bucket)
        # Ego4D's buckets keep object versions: the official CLI records each file's version
        # id in manifest.ver and fetches again what does not match it.
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    seeded: list[MirrorObject] = []
    universities = list(DEMO_UNIVERSITY_BUCKETS)
    benchmarks = ["[EM|NLQ|VQ]", "[FHO]", "[AV|Social]", "[NLQ]"]
    videos = []
    for i, size_mib in enumerate(video_sizes_mib):
        uid = hashlib.md5(f"video-{i}".encode()).hexdigest()
        uid = f"{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:32]}"
        university = universities[i % len(universities)]
        bucket = DEMO_UNIVERSITY_BUCKETS[university]
        key = f"public/{DEMO_RELEASE}/full_scale/{uid}.mp4"
        seeded.append(seed_object(client, bucket, key, int(size_mib * MIB)))
        videos.append((uid, f"s3://{bucket}/{key}", university, benchmarks[i % len(benchmarks)]))

    base = f"public/{DEMO_RELEASE}"
    clips = []
    for i in range(2):
        uid = hashlib.md5(f"clip-{i}".encode()).hexdigest()
        key = f"public/{DEMO_RELEASE}/clips/{uid}.mp4"
        seeded.append(seed_object(client, "ego4d-cmu", key, MIB + i * 4096))
        clips.append((uid, f"s3://ego4d-cmu/{key}", "cmu", "[EM|NLQ]"))
    clips_manifest = io.StringIO()
    writer = csv.writer(clips_manifest)
    writer.writerow(["video_uid", "canonical_s3_location", "type", "benchmarks"])
    for uid, location, _, bench in clips:
        writer.writerow([uid, location, "mp4", bench])
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(["video_uid", "canonical_s3_location", "type", "benchmarks", "university"])
    for uid, location, university, bench in videos:
        writer.writerow([uid, location, "mp4", bench, university])
    annotation_files = {
        f"{base}/annotations/nlq_train.json": {"version": "v2_1", "videos": [v[0] for v in videos]},
        f"{base}/annotations/av_train.json": {"version": "v2_1", "videos": [videos[2][0]]},
    }
    annotations_manifest = io.StringIO()
    writer = csv.writer(annotations_manifest)
    writer.writerow(["file_uid", "canonical_s3_location", "type"])
    for key in annotation_files:
        name = key.rsplit("/", 1)[1].removesuffix(".json")
        writer.writerow([name, f"s3://{CONSORTIUM_BUCKET}/{key}", "json"])
    metadata = {
        "version": DEMO_RELEASE,
        "videos": [{"video_uid": v[0], "university": v[2]} for v in videos],
    }
    small_objects = {
        f"{base}/ego4d.json": json.dumps(metadata, indent=1).encode(),
        f"{base}/datasets.csv": b"dataset\nfull_scale\nclips\nannotations\n",
        f"{base}/full_scale/manifest.csv": manifest.getvalue().encode(),
        f"{base}/clips/manifest.csv": clips_manifest.getvalue().encode(),
        f"{base}/annotations/manifest.csv": annotations_manifest.getvalue().encode(),
        **{key: json.dumps(value).encode() for key, value in annotation_files.items()},
    }
    for key, body in small_objects.items():
        put_object(client, CONSORTIUM_BUCKET, key, body, multipart=False)
        seeded.append(MirrorObject(CONSORTIUM_BUCKET, key, len(body), False))
    return seeded


EGOEXO_PREFIX = "egoexo-public/v2"
EGOEXO_TAKES = (
    # uid, name, university, benchmarks, split. The first is one of Ego2Exo's 249 takes (the
    # first of upstream's take_ids.txt); the second a keystep take that is not one of them.
    ("fce858fe-d30b-4a72-822d-79c92d29971e", "cmu_bike01_2", "cmu", ["keystep"], "train"),
    ("0f3c1a2e-0000-4000-8000-000000000002", "upenn_cook03_4", "upenn", ["keystep"], "val"),
    ("0f3c1a2e-0000-4000-8000-000000000003", "sfu_basket07_1", "sfu", ["proficiency"], "test"),
)


def seed_egoexo(client: S3Client) -> list[MirrorObject]:
    """An Ego-Exo4D-shaped release: per-part manifest.json files listing take-, capture- and
    release-level files, with views, universities, splits, benchmarks and sizes."""
    ensure_bucket(client, CONSORTIUM_BUCKET)
    seeded: list[MirrorObject] = []
    manifests: dict[str, list[dict[str, object]]] = {}

    def add(
        part: str, uid: str, relative: str, size: int, views: list[str] | None = None,
        university: str | None = None, **entry: object,
    ) -> None:  # fmt: skip
        key = f"{EGOEXO_PREFIX}/{relative}"
        seeded.append(seed_object(client, CONSORTIUM_BUCKET, key, size))
        path = {
            "source_path": f"s3://{CONSORTIUM_BUCKET}/{key}",
            "relative_path": relative,
            "views": views,
            "universities": [university] if university else None,
            "file_type": relative.rsplit(".", 1)[-1],
            "size": size,
            "checksum": None,
        }
        manifests.setdefault(part, []).append({"uid": uid, "paths": [path], **entry})

    add("metadata", "takes", "takes.json", 2048)
    add("metadata", "captures", "captures.json", 1024)
    add("annotations", "keystep", "annotations/keystep_train.json", 4096, benchmarks=["keystep"])
    add("annotations", "proficiency_demonstration",
        "annotations/proficiency_demonstration_train.json", 3072,
        benchmarks=["proficiency_demonstration", "proficiency"])  # fmt: skip
    for i, (uid, name, university, benchmarks, split) in enumerate(EGOEXO_TAKES):
        take = {"benchmarks": benchmarks, "splits": [split]}
        videos = f"takes/{name}/frame_aligned_videos"
        add("takes", uid, f"{videos}/aria01_214-1.mp4", 300_000 + i, ["ego"], university, **take)
        add("takes", uid, f"{videos}/cam01.mp4", 200_000 + i, ["exo"], university, **take)
        add("take_trajectory", uid, f"takes/{name}/trajectory/closed_loop_trajectory.csv",
            5000 + i, ["ego"], university, **take)  # fmt: skip
        add("take_vrs_noimagestream", uid, f"takes/{name}/aria01_noimagestreams.vrs",
            70_000 + i, ["ego"], university, **take)  # fmt: skip
        add("downscaled_takes/448", uid, f"{videos}/downscaled/448/aria01_214-1.mp4",
            90_000 + i, ["ego"], university, **take)  # fmt: skip
        add("features/omnivore_video", uid, f"features/omnivore_video/{uid}_aria01_rgb.pt",
            40_000 + i, ["ego"], university, **take)  # fmt: skip
        add("captures", f"capture-{i}", f"captures/{name.rsplit('_', 1)[0]}/timesync.csv",
            3000 + i, None, university, splits=[split])  # fmt: skip
        # Per-take files of the general annotations part (uid = the take's, as upstream's
        # manifest_gen.py:658-690), expert commentary (uid "<take>_<expert>", :711), and a
        # part added upstream after the CLI's help was written.
        add("annotations", uid, f"annotations/ego_pose/{split}/body/annotation/{uid}.json",
            6000 + i, None, None, benchmarks=["egopose"], splits=[split])  # fmt: skip
        add("expert_commentary", f"{uid}_expert1",
            f"annotations/expert_commentary/{name}/expert1/commentary.json", 700 + i, None,
            university, benchmarks=["proficiency"], splits=[split])  # fmt: skip
        add("keystep_benchmark/clips_448p", uid, f"keystep_benchmark/clips_448p/{uid}_0.mp4",
            50_000 + i, ["ego"], university, **take)  # fmt: skip
    for part, entries in manifests.items():
        body = json.dumps(entries, indent=1).encode()
        put_object(client, CONSORTIUM_BUCKET, f"{EGOEXO_PREFIX}/{part}/manifest.json", body, False)
    return seeded
