"""Fixtures of the identity tests: a session on each backend and a My Number vault."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.config import Settings
from tsunagu.identity.mynumber import MyNumberVault


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed at the end of the test (tables are emptied after)."""
    with session_factory() as db:
        yield db
        db.commit()


@pytest.fixture
def vault(settings: Settings) -> MyNumberVault:
    return MyNumberVault.from_settings(settings)
