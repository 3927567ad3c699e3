"""The SQL store: SQLAlchemy Core tables, Alembic migrations, the Store and JobQueue ports."""
