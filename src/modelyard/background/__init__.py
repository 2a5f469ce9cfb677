"""Background work: worker processes that run the jobs queued in the database (services/jobs.py)."""
