from datetime import datetime, timezone


def utcnow():
    """Naive UTC, as stored in the database (portable across SQLite and PostgreSQL)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def epoch(dt):
    return int(dt.replace(tzinfo=timezone.utc).timestamp())
