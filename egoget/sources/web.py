"""The requests side of egoget: pages and APIs it reads but moves no bulk bytes from (Drive's
pages, Kaggle's API), with the trust and proxy of the byte path, and their failures as
egoget's errors."""

from __future__ import annotations

import socket

import requests

from ..errors import EgogetError, RetryableError, UnreachableError
from .http import network_reason
from .network import PROXY_HINT, TLS_HINT, Trust, requests_verify


def web_session(trust: Trust, proxy: str | None) -> requests.Session:
    """A requests session that trusts what the byte path trusts and goes through its proxy
    (--proxy; otherwise requests reads the same *_PROXY variables itself)."""
    session = requests.Session()
    session.verify = requests_verify(trust)
    if proxy:
        session.proxies = {"http": proxy, "https": proxy}
    return session


def request_failure(exc: requests.RequestException, doing: str, hosts: str) -> EgogetError:
    """requests' failure as egoget's: a certificate, proxy or name failure stops the run;
    anything else may pass. ``hosts`` names whose names did not resolve, for the message."""
    reason = network_reason(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return UnreachableError(f"{doing} failed: TLS ({reason})", hint=TLS_HINT)
    if isinstance(exc, requests.exceptions.ProxyError):
        return UnreachableError(f"{doing} failed at the proxy ({reason})", hint=PROXY_HINT)
    if isinstance(exc, requests.ConnectionError) and _name_not_resolved(exc):
        return UnreachableError(f"{doing} failed: cannot resolve {hosts} ({reason})",
                                hint="on a network that only reaches out through a proxy, "
                                + PROXY_HINT)  # fmt: skip
    return RetryableError(f"{doing} failed ({reason})")


def _name_not_resolved(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, socket.gaierror) or type(seen).__name__ == "NameResolutionError":
            return True
        inner = next((a for a in getattr(seen, "args", ()) if isinstance(a, BaseException)), None)
        seen = inner or getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
    return False
