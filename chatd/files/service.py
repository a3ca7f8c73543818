"""Download links of shared files as a service: the link secret, ``/files`` on a frontend's
web site, and the public URL links start with."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from twisted.application.service import Service
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IListeningPort, IReactorTime
from twisted.logger import Logger
from twisted.web.resource import Resource

from chatd.files.links import LinkSigner, link_secret
from chatd.files.store import FileStore
from chatd.files.web import FileResource
from chatd.kernel.errors import NotAllowed
from chatd.kernel.settings import Current, Settings

log = Logger()


class FileLinks(Service):
    """Shared files over HTTP, where a frontend serves a web site: once the data directory
    is locked, reads (or makes) the link secret and mounts ``/files`` on each of ``sites``
    (each adds a resource to one web site).
    ``link`` is the core's link maker: it starts links with the public URL (``web-url``, or
    the address of the site's first listener, ``heard``) and makes them good for
    ``file-link-lifetime``, which a reload changes."""

    def __init__(self, secret: Path, clock: IReactorTime, current: Current, files: FileStore,
                 sites: Sequence[Callable[[bytes, Resource], None]]) -> None:
        self.secret = secret
        self.clock = clock
        self.current = current
        self.files = files
        self.sites = sites
        self.url: str = current.settings.web_url
        self.signer: LinkSigner | None = None
        current.read(self.reloaded)

    def reloaded(self, settings: Settings) -> None:
        if self.signer is not None:
            self.signer.lifetime = settings.file_link_lifetime

    def heard(self, port: IListeningPort, scheme: str) -> None:
        """The first web listener is up: its address is the URL, unless ``web-url`` says
        otherwise or it listens on every interface (no one name reaches it)."""
        if self.url:
            return
        host = port.getHost()
        if not isinstance(host, IPv4Address | IPv6Address) or host.host in ("0.0.0.0", "::"):
            log.warn("no download links for shared files: the web listener has no one "
                     "address; set web-url to the page's public URL")
            return
        shown = f"[{host.host}]" if ":" in host.host else host.host
        self.url = f"{scheme}://{shown}:{host.port}"

    def link(self, file_id: str) -> tuple[str, int]:
        if self.signer is None or not self.url:
            raise NotAllowed("no download links here: they need the web frontend and its "
                             "web-url; /get ID fetches the file")
        return self.url + self.signer.make(file_id), self.signer.lifetime

    def startService(self) -> None:
        try:
            secret = link_secret(self.secret)
        except (OSError, ValueError) as error:
            raise SystemExit(f"chatd: download links: {error}") from None
        self.signer = LinkSigner(secret, self.clock,
                                 self.current.settings.file_link_lifetime)
        for mount in self.sites:
            mount(b"files", FileResource(self.files, self.signer))
        super().startService()
