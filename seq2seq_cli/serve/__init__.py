"""``s2s serve``: the HTTP front door (FastAPI), batching requests into the one decode path."""
