"""egoget: one resumable, verified, parallel downloader for egocentric-video datasets."""

from .config import FetchConfig, TransferConfig
from .model import Plan, RemoteFile
from .run import RunResult, execute

__all__ = ["FetchConfig", "Plan", "RemoteFile", "RunResult", "TransferConfig", "execute"]
