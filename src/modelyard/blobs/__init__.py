"""Content-addressed, write-once storage for large file content (LFS objects, keyed by sha256)."""
