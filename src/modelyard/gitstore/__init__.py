"""Bare git repositories (pygit2): the source of truth for files and history."""
