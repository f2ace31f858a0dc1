"""Where uploaded resource files live: an interface with a local-disk implementation.

Keys are opaque relative paths chosen by the catalog; an object store can be
added behind the same three methods without touching the service.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import BinaryIO, Protocol

from tsunagu.core.errors import NotFoundError

CHUNK = 1 << 20


class Storage(Protocol):
    def save(self, key: str, source: BinaryIO) -> tuple[int, str]:
        """Store ``source`` under ``key``; returns (size in bytes, sha256 hex)."""
        ...

    def path(self, key: str) -> Path:
        """A local path to read the file (downloaded first by remote stores)."""
        ...

    def delete(self, key: str) -> None: ...


class LocalStorage:
    """Files under one directory; writes go to a temporary name then are renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _resolve(self, key: str) -> Path:
        target = (self.root / key).resolve()
        if not target.is_relative_to(self.root.resolve()):
            raise NotFoundError(
                "opendata.bad_storage_key", "ファイルが見つかりません。", "File not found."
            )
        return target

    def save(self, key: str, source: BinaryIO) -> tuple[int, str]:
        target = self._resolve(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        digest, size = hashlib.sha256(), 0
        with partial.open("wb") as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        partial.replace(target)
        return size, digest.hexdigest()

    def path(self, key: str) -> Path:
        target = self._resolve(key)
        if not target.is_file():
            raise NotFoundError(
                "opendata.file_missing", "ファイルが見つかりません。", "File not found."
            )
        return target

    def delete(self, key: str) -> None:
        target = self._resolve(key)
        if target.is_file():
            target.unlink()
        if target.parent.is_dir() and not any(target.parent.iterdir()):
            shutil.rmtree(target.parent, ignore_errors=True)
