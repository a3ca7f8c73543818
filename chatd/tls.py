"""TLS for ``ssl:`` listeners: Mozilla's "intermediate" settings, reloadable on SIGHUP.

Twisted's ``ssl:`` endpoint parser reads the key and certificate files, but its default
CertificateOptions still accept TLS 1.0/1.1 and non-forward-secret suites on TLS 1.2. Each
``ssl:`` listener therefore gets a ``ReloadableTLS`` in place of the parser's options: the
same key, certificate, chain and DH parameters, TLS 1.2 as the floor, Mozilla's intermediate
cipher list (TLS 1.3 suites are OpenSSL's defaults, all forward-secret). ``reload()`` parses
the endpoint description again (re-reading the files) and new connections use the new
certificate; connections already open keep theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from OpenSSL.SSL import Context
from twisted.application.internet import StreamServerEndpointService
from twisted.internet.endpoints import SSL4ServerEndpoint, serverFromString
from twisted.internet.interfaces import IOpenSSLContextFactory, IProtocolFactory
from twisted.internet.ssl import AcceptableCiphers, CertificateOptions, TLSVersion
from zope.interface import implementer

from chatd.twisted_private import fail_loudly, parsed_tls_options, replace_tls_options

MOZILLA_INTERMEDIATE = ":".join([
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305",
])


def _hardened(endpoint: SSL4ServerEndpoint) -> CertificateOptions:
    parsed: CertificateOptions = parsed_tls_options(endpoint)  # the parser's, files read
    return CertificateOptions(
        privateKey=parsed.privateKey,
        certificate=parsed.certificate,
        extraCertChain=parsed.extraCertChain,
        dhParameters=parsed.dhParameters,
        raiseMinimumTo=TLSVersion.TLSv1_2,
        acceptableCiphers=AcceptableCiphers.fromOpenSSLCipherString(MOZILLA_INTERMEDIATE),
    )


@implementer(IOpenSSLContextFactory)
class ReloadableTLS:
    """An old-style context factory: Twisted asks it for a context for each connection."""

    def __init__(self, reactor: Any, description: str) -> None:
        self._reactor = reactor
        self.description = description
        self._current = self._load()

    def _load(self) -> CertificateOptions:
        endpoint = serverFromString(self._reactor, self.description)
        assert isinstance(endpoint, SSL4ServerEndpoint)
        return _hardened(endpoint)

    def reload(self) -> None:
        """Re-read the key and certificate files; raises (keeping the old ones) if they are
        unusable."""
        self._current = self._load()

    def getContext(self) -> Context:
        return self._current.getContext()


def listener(
    reactor: Any, description: str, factory: IProtocolFactory,
    parse: Callable[[Any, str], Any] = serverFromString,
) -> tuple[StreamServerEndpointService, ReloadableTLS | None]:
    """A listening service for ``description`` (read by ``parse``: Twisted's endpoint strings
    or a frontend's own); for ``ssl:``, hardened and reloadable."""
    endpoint = parse(reactor, description)
    tls = None
    if isinstance(endpoint, SSL4ServerEndpoint):
        tls = ReloadableTLS(reactor, description)
        replace_tls_options(endpoint, tls)  # in place of the parser's default options
    service = StreamServerEndpointService(endpoint, factory)
    fail_loudly(service)
    return service, tls
