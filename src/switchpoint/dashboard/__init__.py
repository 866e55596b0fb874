"""The dashboard's static files (``static/``), shipped in the package and served at ``/ui/``.

Plain HTML, CSS and JavaScript modules with hand-written SVG charts: nothing is fetched from
another origin, so the dashboard works offline and under a strict Content-Security-Policy.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

__all__ = ["CONTENT_TYPES", "Asset", "Assets"]

CONTENT_TYPES: dict[str, bytes] = {
    ".html": b"text/html; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".json": b"application/json",
}
_NAME = re.compile(r"(?:[a-z0-9_-]+/)*[a-z0-9_-]+\.[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: bytes
    etag: bytes


class Assets:
    """Reads each file once, on first request, and keeps it (the files never change at run time)."""

    def __init__(self, package: str = "switchpoint.dashboard", folder: str = "static") -> None:
        self._root = resources.files(package).joinpath(folder)
        self._cache: dict[str, Asset | None] = {}

    def get(self, name: str) -> Asset | None:
        """The asset at ``name`` (``index.html``, ``js/app.js``...), or None. Only plain relative
        names with a known extension are looked up: nothing outside the folder can be reached."""
        if name in self._cache:
            return self._cache[name]
        asset = self._load(name)
        if len(self._cache) < 256:
            self._cache[name] = asset
        return asset

    def _load(self, name: str) -> Asset | None:
        if not _NAME.fullmatch(name):
            return None
        content_type = CONTENT_TYPES.get(name[name.rfind(".") :])
        if content_type is None:
            return None
        node = self._root
        for part in name.split("/"):
            node = node.joinpath(part)
        if not node.is_file():
            return None
        body = node.read_bytes()
        return Asset(body, content_type, b'"' + hashlib.sha256(body).hexdigest()[:20].encode() + b'"')
