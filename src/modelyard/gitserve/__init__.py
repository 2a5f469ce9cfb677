"""git's smart HTTP protocol (clone, fetch, push) and the pre-receive hook that holds pushes to the hub's rules."""
