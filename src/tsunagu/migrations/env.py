"""Alembic environment: runs migrations on the URL given by tsunagu.core.migrate."""

from alembic import context

from tsunagu.core.db import make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "tsunagu.core.migrate sets sqlalchemy.url"
engine = make_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        render_as_batch=engine.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
