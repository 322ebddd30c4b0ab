"""``aggregator db upgrade``: apply database migrations."""

from __future__ import annotations

from aggregator.commands.base import db_app, load_settings, out, user_errors
from aggregator.store import db


@db_app.command("upgrade")
def upgrade() -> None:
    """Apply migrations up to the newest schema (also done on first use of an empty database).

    Example:

      aggregator db upgrade
    """
    with user_errors():
        settings = load_settings()
        engine = db.open_engine(settings.database_url)
        try:
            before, after = db.upgrade(engine)
        finally:
            engine.dispose()
    if before == after:
        out.print(f"database already at {after}", markup=False)
    else:
        out.print(f"database migrated from {before or 'empty'} to {after}", markup=False)
