"""`manage.py ensure_database`: create the Postgres database DATABASE_URL names, if it is missing.

`make run`, `make migrate` and the benchmarks run it first, so the README's real-services
commands work on a fresh machine whose Postgres has only its default databases. It
connects to the server's `postgres` maintenance database with the same credentials; a
role that may not create databases gets a message saying what to run instead. SQLite
(the embedded default) needs nothing.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connections


def ensure_database(alias: str = "default") -> bool:
    """Create the database of `alias` if it does not exist; True if it was created."""
    import psycopg
    from psycopg import sql

    settings_dict = connections[alias].settings_dict
    if not settings_dict["ENGINE"].endswith("postgresql"):
        return False
    name = settings_dict["NAME"]
    params = {
        "dbname": "postgres",
        "user": settings_dict.get("USER") or None,
        "password": settings_dict.get("PASSWORD") or None,
        "host": settings_dict.get("HOST") or None,
        "port": settings_dict.get("PORT") or None,
        "connect_timeout": 10,
    }
    try:
        with psycopg.connect(**{k: v for k, v in params.items() if v is not None}, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                return False
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:  # another process created it meanwhile
                return False
            return True
    except psycopg.errors.InsufficientPrivilege as exc:
        raise CommandError(
            f"The database {name!r} does not exist and this role may not create it ({exc}). "
            f"Create it once as a superuser: createdb {name}"
        ) from None
    except psycopg.OperationalError as exc:
        raise CommandError(f"Cannot reach Postgres to check the database {name!r}: {exc}") from None


class Command(BaseCommand):
    help = "Create the Postgres database named by DATABASE_URL if it does not exist yet."

    def handle(self, *args, **options):
        if ensure_database():
            self.stdout.write(f"Created the database {connections['default'].settings_dict['NAME']!r}.")
