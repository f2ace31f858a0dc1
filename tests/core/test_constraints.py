"""constraints.txt pins every release an install takes (``make install`` uses ``pip -c``).

A dependency added to pyproject.toml without ``make lock`` would be installed at whatever
release is newest on the day, which is what the pins are there to prevent: a clean clone's
build would change under it. This test names what is missing instead.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

CONSTRAINTS = Path(__file__).resolve().parents[2] / "constraints.txt"
EXTRAS = ("test", "dev")
# Installed by the Makefile with --no-deps beside the project (see install_into).
BESIDE = ("pycanon", "anjana")


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def _applies(requirement: Requirement, extras: tuple[str, ...]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in ("", *extras))


def _required(name: str, extras: tuple[str, ...] = ()) -> set[str]:
    """The distributions ``name`` needs with ``extras``, transitively, as installed here."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    waiting = [(name, extras)]
    while waiting:
        current, wanted = waiting.pop()
        for text in metadata.requires(current) or []:
            requirement = Requirement(text)
            step = (canonicalize_name(requirement.name), tuple(sorted(requirement.extras)))
            if _applies(requirement, wanted) and step not in seen:
                seen.add(step)
                waiting.append(step)
    return {key for key, _extras in seen}


def _installed() -> set[str]:
    """What ``make install`` puts in the environment besides the project itself."""
    return _required("tsunagu", EXTRAS) | {canonicalize_name(n) for n in BESIDE}


def test_every_release_the_project_installs_is_pinned() -> None:
    assert sorted(_installed() - _pins().keys()) == [], "not pinned: run `make lock`"


def test_the_pins_are_the_releases_installed() -> None:
    """The suite runs on exactly the pinned releases (or the pins were not used)."""
    pins = _pins()
    installed = {key: metadata.version(key) for key in _installed()}
    differing = {k: (v, pins[k]) for k, v in installed.items() if k in pins and pins[k] != v}
    assert differing == {}, "installed (left) is not the pin (right): run `make install`"
