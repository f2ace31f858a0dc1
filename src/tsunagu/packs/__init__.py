"""Configuration packs: the country-specific system as YAML files.

The engines (registries, exchange, procedures …) hold no Japanese knowledge;
``packs/<name>/`` does. This module only finds and parses the files; each
engine validates the documents it owns and reports errors with the file name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PACKS_DIR = Path(__file__).resolve().parent
DEFAULT_PACK = "jp"


class PackError(ValueError):
    """A pack file is missing or malformed; the message names the file."""


def pack_dir(pack: str = DEFAULT_PACK) -> Path:
    path = PACKS_DIR / pack
    if not path.is_dir():
        raise PackError(f"pack {pack!r} does not exist under {PACKS_DIR}")
    return path


def load_file(path: Path) -> Any:
    """Parse one YAML file, naming it in any error."""
    try:
        with path.open(encoding="utf-8") as stream:
            return yaml.safe_load(stream)
    except (OSError, yaml.YAMLError) as exc:
        raise PackError(f"{path}: {exc}") from exc


def load_document(name: str, pack: str = DEFAULT_PACK) -> Any:
    """One file of a pack, e.g. ``load_document("legal_basis.yaml")``."""
    path = pack_dir(pack) / name
    if not path.is_file():
        raise PackError(f"{path} does not exist")
    return load_file(path)


def load_folder(folder: str, pack: str = DEFAULT_PACK) -> list[tuple[Path, Any]]:
    """Every ``*.yaml`` in a pack folder, in file-name order (one definition per file)."""
    directory = pack_dir(pack) / folder
    return [(path, load_file(path)) for path in sorted(directory.glob("*.yaml"))]
