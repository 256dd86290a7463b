"""Environment variables and tunable defaults, in one place. Units are in the names."""

from __future__ import annotations

import os

ENV_DEBUG = "EGOGET_DEBUG"
ENV_ENDPOINT_URL = "AWS_ENDPOINT_URL"
ENV_EGOGET_ENDPOINT_URL = "EGOGET_ENDPOINT_URL"


def endpoint_from_environment() -> str | None:
    """The S3 endpoint the environment names: egoget's own variable, then boto3's."""
    return os.environ.get(ENV_EGOGET_ENDPOINT_URL) or os.environ.get(ENV_ENDPOINT_URL)


STATE_DIR_NAME = ".egoget"
LEDGER_FILE_NAME = "ledger.sqlite"
LOCK_FILE_NAME = "lock"
PART_SUFFIX = ".egoget-part"

DEFAULT_PROCS = 32
DEFAULT_CHUNK_SIZE_MIB = 16
# Reads from the socket go straight into reusable buffers: memory stays flat in object size and
# count. 32 workers x 2 buffers x 512 KiB = 32 MiB at the cap; three 1 MiB buffers a worker took
# peak RSS to 131 MiB on 4 x 1 GiB for no measurable gain in time or CPU (farm-bench A/B).
READ_BUFFER_BYTES = 512 * 1024
# A worker reads on while its last buffer waits to be hashed in a wide SIMD batch.
READ_BUFFERS_PER_WORKER = 2
MD5_BATCH_LINGER_S = 0.001
# How much of an unfinished chunk a SIGKILL may cost: progress is recorded this often...
CHECKPOINT_BYTES = 2 * 1024 * 1024
# ...and committed at most this often. A commit per checkpoint was ~500 a GiB: every ~4 MB of
# WAL they made a checkpoint, whose fsync flushes the disk's cache, and on a cloud VM each
# flush held every direct write for 0.2-0.7 s (seen with strace and /proc/PID/task/*/stack).
PROGRESS_COMMIT_INTERVAL_S = 1.0
DEFAULT_STALL_TIMEOUT_S = 30.0
DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_MAX_ATTEMPTS = 8
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
# Ctrl-C must return control quickly even when a worker is blocked in a stalled read.
INTERRUPT_GRACE_S = 1.5
PRESIGN_EXPIRY_S = 6 * 3600
# Listings and other metadata requests, as botocore's standard retry mode would.
METADATA_MAX_ATTEMPTS = 5
LISTING_PAGE_MAX_BYTES = 16 * 1024 * 1024
# With fewer keys than this under one prefix, HEAD each one instead of listing the prefix.
LIST_INSTEAD_OF_HEAD_MIN_KEYS = 4
# Part files of this size and more have their space reserved when opened, so a full disk shows
# before their bytes are fetched; a smaller one finds out at its one write just the same, and
# the reservation was a syscall (and a GIL handoff) per small file.
RESERVE_MIN_BYTES = 1 << 20
# A folder with more planned keys than this is listed in ranges side by side, at most
# MAX_LISTINGS listings at once (each is a chain of 1,000-key pages).
LISTING_RANGE_MIN_KEYS = 2000
MAX_LISTINGS = 16
PLAIN_PROGRESS_INTERVAL_S = 5.0
VERIFIED_BATCH_MAX = 256
VERIFIED_BATCH_MAX_AGE_S = 0.2


def default_encoders() -> int:
    """How many ffmpeg processes to run at once: each libx264 already uses several threads."""
    return max(1, (os.cpu_count() or 2) // 2)
