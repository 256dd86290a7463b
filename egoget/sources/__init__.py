"""Transports by URI scheme. Adding a provider is one module and one line in ``SOURCE_CLASSES``.

Modules are imported lazily, so a run over HTTPS URLs never imports boto3.
"""

from __future__ import annotations

import importlib
import re
import threading

from ..errors import UsageError
from .base import RangeStream, RemoteStat, Source, SourceSettings
from .http import HttpTransport
from .network import ProxyRules, Trust, s3_trust, web_trust

# scheme -> "module:Class"; each class takes (SourceSettings, HttpTransport).
SOURCE_CLASSES: dict[str, str] = {
    "s3": "egoget.sources.s3:S3Source",
    "https": "egoget.sources.https:HttpsSource",
    "http": "egoget.sources.https:HttpsSource",
    "gdrive": "egoget.sources.gdrive:DriveSource",
}
# Which certificates each scheme trusts: S3 as boto3 does, the rest as requests does.
S3_TRUST_SCHEMES = frozenset({"s3"})


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def scheme_of(uri: str) -> str:
    scheme, colon, _ = uri.partition(":")
    if colon and scheme in SOURCE_CLASSES:
        return scheme  # the usual spellings: asked once per file of a million-file plan
    # urlsplit's rule for what counts as a scheme, without its cost on every chunk.
    if colon and _SCHEME.fullmatch(scheme):
        return scheme.lower()
    return ""


class SourceRegistry:
    """One source object per scheme for the whole run, sharing one connection pool."""

    def __init__(self, settings: SourceSettings):
        self.settings = settings
        # Read once, before any request: a bad proxy or CA setting is a usage error up front.
        self.proxies = ProxyRules(settings.proxy)
        self.web_trust = web_trust(settings.ca_bundle, settings.verify_tls)
        self._transports: dict[Trust, HttpTransport] = {}
        self._sources: dict[str, Source] = {}
        self._lock = threading.Lock()

    def _transport(self, trust: Trust) -> HttpTransport:
        transport = self._transports.get(trust)
        if transport is None:
            transport = HttpTransport(self.settings, trust, self.proxies)
            self._transports[trust] = transport
        return transport

    def abort_requests_of(self, worker: int) -> None:
        """Give up the worker thread's request in flight (a silent connection); its read fails
        at once. Sources that do not make their own requests (Drive) are left to time out."""
        for transport in list(self._transports.values()):
            transport.abort(worker)

    def for_uri(self, uri: str) -> Source:
        scheme = scheme_of(uri)
        source = self._sources.get(scheme)  # set once per scheme, then only read
        if source is not None:
            return source
        with self._lock:
            source = self._sources.get(scheme)
            if source is None:
                target = SOURCE_CLASSES.get(scheme)
                if target is None:
                    raise UsageError(
                        f"no source handles {scheme or 'schemeless'} URIs: {uri[:80]!r}",
                        hint=f"supported schemes: {', '.join(sorted(SOURCE_CLASSES))}",
                    )
                module_name, _, class_name = target.partition(":")
                cls = getattr(importlib.import_module(module_name), class_name)
                trust = self.web_trust
                if scheme in S3_TRUST_SCHEMES:
                    settings = self.settings
                    trust = s3_trust(settings.ca_bundle, settings.verify_tls, settings.aws_profile)
                source = cls(self.settings, self._transport(trust))
                self._sources[scheme] = source
            return source


__all__ = ["RangeStream", "RemoteStat", "Source", "SourceRegistry", "SourceSettings", "scheme_of"]
