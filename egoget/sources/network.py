"""How egoget reaches a server: which proxy, and which certificates it trusts.

Proxies follow the rules requests and botocore share (``HTTP_PROXY``/``HTTPS_PROXY``/
``ALL_PROXY``, lowercase first, and ``NO_PROXY``), so a cluster configured for them is
configured for egoget. Trust follows each protocol's own peer: boto3's order for S3
(``AWS_CA_BUNDLE``, then the profile's ``ca_bundle``), requests' for HTTPS URLs and Drive
(``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``); ``--ca-bundle`` beats both. Without any of them
the system store is used, and certifi's bundle where the system store holds no CA at all (a
python.org build on macOS before "Install Certificates").
"""

from __future__ import annotations

import base64
import configparser
import ipaddress
import os
import ssl
import urllib.request
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError

PROXY_HINT = "set HTTPS_PROXY / HTTP_PROXY (or --proxy) to the proxy your network requires"
TLS_HINT = (
    "pass --ca-bundle FILE with the CA certificate that signed it (behind a TLS-inspecting proxy: "
    "your organisation's CA), or set AWS_CA_BUNDLE (S3) / REQUESTS_CA_BUNDLE (HTTPS); "
    "--no-verify-ssl skips the check, unsafely"
)


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    # "Basic ..." from user:password in the proxy URL; never printed.
    authorization: str | None = None

    @property
    def shown(self) -> str:
        """The proxy as messages name it: no credentials."""
        return f"http://{self.host}:{self.port}"


def parse_proxy(url: str, origin: str) -> Proxy:
    """A proxy URL as HTTP_PROXY holds it; ``origin`` names where it came from for errors."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = parts.scheme.lower()
    if scheme != "http":
        raise ConfigError(
            f"{origin} is a {scheme}:// proxy, which egoget does not speak",
            hint="egoget talks to proxies over plain HTTP (https traffic still goes end to end "
            "through a CONNECT tunnel): if the proxy listens for plain HTTP, write "
            f"http://{parts.hostname or 'HOST'}:{parts.port or 'PORT'}",
        )
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise ConfigError(f"{origin} has a bad port: {exc}") from None
    if not parts.hostname:
        raise ConfigError(f"{origin} names no proxy host", hint="write http://HOST:PORT")
    authorization = None
    if parts.username is not None:
        user_pass = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(user_pass.encode()).decode("ascii")
    return Proxy(parts.hostname, port, authorization)


class ProxyRules:
    """Which proxy, if any, carries a request to a host; read from the environment once."""

    def __init__(self, override: str | None = None):
        found = urllib.request.getproxies_environment()
        self._no_proxy = [
            entry.lstrip(".").lower()
            for entry in found.get("no", "").replace(" ", "").split(",")
            if entry
        ]
        self._by_scheme: dict[str, Proxy] = {}
        for scheme in ("http", "https"):
            if override is not None:
                self._by_scheme[scheme] = parse_proxy(override, "--proxy")
                continue
            for key in (scheme, "all"):
                if found.get(key):
                    # The variable's own name in messages, as the user set it.
                    self._by_scheme[scheme] = parse_proxy(found[key], f"{key.upper()}_PROXY")
                    break

    def for_host(self, scheme: str, host: str, port: int) -> Proxy | None:
        proxy = self._by_scheme.get(scheme)
        if proxy is None or self._bypassed(host.lower(), port):
            return None
        return proxy

    def _bypassed(self, host: str, port: int) -> bool:
        host = host.strip("[]")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        with_port = f"{host}:{port}"
        for entry in self._no_proxy:
            if entry == "*":
                return True
            if address is not None:
                try:
                    if address in ipaddress.ip_network(entry.strip("[]"), strict=False):
                        return True
                except ValueError:
                    pass
                continue
            if host == entry or with_port == entry:
                return True
            if host.endswith("." + entry) or with_port.endswith("." + entry):
                return True
        return False


@dataclass(frozen=True)
class Trust:
    """The certificates a connection is verified against, and which setting chose them."""

    ca_file: str | None  # None: the system store (or certifi where that is empty)
    origin: str  # for messages: "--ca-bundle", "AWS_CA_BUNDLE", "the system store", ...
    verify: bool = True


def _ca_setting(path: str, origin: str) -> Trust:
    expanded = os.path.expanduser(path)
    if not os.path.isfile(expanded):
        raise ConfigError(
            f"{origin} names {path}, which is not a file",
            hint="point it at a PEM file of CA certificates, or unset it",
        )
    return Trust(expanded, f"{origin} ({path})")


def s3_trust(ca_bundle: Path | None, verify: bool, profile: str | None) -> Trust:
    """boto3's order: the explicit bundle, AWS_CA_BUNDLE, then the profile's ca_bundle."""
    if not verify:
        return Trust(None, "--no-verify-ssl", verify=False)
    if ca_bundle is not None:
        return _ca_setting(str(ca_bundle), "--ca-bundle")
    if os.environ.get("AWS_CA_BUNDLE"):
        return _ca_setting(os.environ["AWS_CA_BUNDLE"], "AWS_CA_BUNDLE")
    from_profile = profile_setting(profile, "ca_bundle")
    if from_profile:
        return _ca_setting(from_profile, "the AWS profile's ca_bundle")
    return Trust(None, "the system store")


def web_trust(ca_bundle: Path | None, verify: bool) -> Trust:
    """requests' order: the explicit bundle, REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE."""
    if not verify:
        return Trust(None, "--no-verify-ssl", verify=False)
    if ca_bundle is not None:
        return _ca_setting(str(ca_bundle), "--ca-bundle")
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if os.environ.get(name):
            return _ca_setting(os.environ[name], name)
    return Trust(None, "the system store")


def botocore_verify(trust: Trust) -> bool | str | None:
    """The same trust as botocore's ``verify`` argument; botocore's own default is certifi's
    bundle, so egoget names the system store's file to keep the two paths trusting alike."""
    if not trust.verify:
        return False
    if trust.ca_file is not None:
        return trust.ca_file
    if tls_context(trust).cert_store_stats()["x509_ca"] == 0:
        return None  # the system store is empty: certifi, as tls_context does
    return ssl.get_default_verify_paths().cafile


def requests_verify(trust: Trust) -> bool | str:
    """The same trust as requests' ``verify`` argument (Drive pages and listings)."""
    if not trust.verify:
        return False
    return trust.ca_file or True


@cache
def tls_context(trust: Trust) -> ssl.SSLContext:
    """One context per trust for the whole run: loading a CA bundle costs milliseconds."""
    if not trust.verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if trust.ca_file is not None:
        return ssl.create_default_context(cafile=trust.ca_file)
    context = ssl.create_default_context()
    if context.cert_store_stats()["x509_ca"] == 0:
        # An empty system store fails every request; boto3 and requests use certifi here.
        import certifi

        context.load_verify_locations(certifi.where())
    return context


def profile_setting(profile: str | None, key: str) -> str | None:
    """A setting of the AWS profile in use, read as botocore reads the shared config file."""
    name = profile or os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE")
    name = name or "default"
    path = os.path.expanduser(os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config")
    parser = configparser.RawConfigParser()
    try:
        parser.read(path)
    except (configparser.Error, UnicodeDecodeError):
        return None  # botocore reports a broken config file itself when it is asked
    section = name if name == "default" else f"profile {name}"
    value = parser.get(section, key, fallback=None)
    return value.strip() if value else None


def profile_exists(name: str) -> bool:
    """Whether the shared config or credentials file defines this profile, as botocore looks."""
    files = {
        os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config": f"profile {name}",
        os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials": name,
    }
    for path, section in files.items():
        parser = configparser.RawConfigParser()
        try:
            parser.read(os.path.expanduser(path))
        except (configparser.Error, UnicodeDecodeError):
            return True  # unreadable: let botocore say what is wrong with it
        if parser.has_section(section) or parser.has_section(name):
            return True
    return False
