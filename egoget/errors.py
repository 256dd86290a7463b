"""Every egoget exception, and the exit code each one maps to.

Each error carries a one-line ``message`` (what happened) and a ``hint`` (what to do about it);
``cli.py`` renders both and exits with ``exit_code``. Only ``EGOGET_DEBUG=1`` shows a traceback.
"""

from __future__ import annotations

from enum import IntEnum

# Shown wherever S3 refuses credentials (sources) or a manifest is denied (run).
CREDENTIALS_HINT = (
    "check the keys with `aws sts get-caller-identity` (or pass --aws-profile); keys issued with a "
    "dataset licence expire (Ego4D's after 14 days) and must be renewed"
)


class ExitCode(IntEnum):
    OK = 0
    SOME_FILES_FAILED = 1
    USAGE = 2
    AUTH = 3
    DISK_FULL = 4
    LOCKED = 5
    UNREACHABLE = 6
    INTERRUPTED = 130
    TERMINATED = 143


class EgogetError(Exception):
    exit_code: ExitCode = ExitCode.SOME_FILES_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


# --- the user's input: exit 2 -------------------------------------------------------------------


class UsageError(EgogetError):
    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    pass


class ManifestError(UsageError):
    pass


class UnsafePathError(ManifestError):
    """A remote-provided name would land outside the output directory or is not a file name."""


# --- access: exit 3 -----------------------------------------------------------------------------


class AuthError(EgogetError):
    exit_code = ExitCode.AUTH


class ExpiredLinkError(AuthError):
    pass


# --- the local machine: exit 4 / 5 -------------------------------------------------------------


class DiskFullError(EgogetError):
    exit_code = ExitCode.DISK_FULL


class LockedError(EgogetError):
    exit_code = ExitCode.LOCKED


# --- the network: exit 6 ------------------------------------------------------------------------


class UnreachableError(EgogetError):
    """A server that cannot be reached or trusted at all (its name does not resolve, it refuses
    every connection, its certificate fails): retrying cannot help, so the run stops at once."""

    exit_code = ExitCode.UNREACHABLE


# --- one file's transfer: exit 1 once retries are spent ----------------------------------------


class TransferError(EgogetError):
    """A fault in moving one file; ``retryable`` says whether trying again may help."""

    retryable = False


class RetryableError(TransferError):
    retryable = True
    # False for a retry that is no fault of the remote's: tried again at once, not counted.
    spends_attempt = True

    def __init__(self, message: str, hint: str | None = None, retry_after_s: float | None = None):
        super().__init__(message, hint)
        self.retry_after_s = retry_after_s


class StalledError(RetryableError):
    pass


class RemoteChangedError(TransferError):
    """The object changed since the file was started: restart it, never splice two versions."""

    retryable = True


class IntegrityError(TransferError):
    """Bytes on disk do not match the size, ETag or checksum the remote promised."""

    retryable = True


class NotFoundError(TransferError):
    pass


class AccessDeniedError(TransferError):
    """403 on one object or bucket while others work: partial access, not a run-wide failure."""


class Interrupted(EgogetError):
    exit_code = ExitCode.INTERRUPTED


# Errors that doom every other file of the run too: the run stops instead of trying them all.
RUN_FATAL_ERRORS = (AuthError, DiskFullError, UnreachableError)
