"""The database: an index of what git and the blob store hold, plus users, tokens and settings."""
