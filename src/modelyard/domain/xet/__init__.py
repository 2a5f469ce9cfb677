"""Pure Xet storage formats: hashes, chunking, xorbs, shards and reconstruction planning.

Nothing in this package does I/O. See `shared/reference/xet.md` (the protocol notes) for the
wire formats; section numbers in docstrings (§2.3 …) refer to that document.
"""
