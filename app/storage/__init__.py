"""Storage: the SQLAlchemy models, the conversation queries, and the database set-up with its migrations."""
