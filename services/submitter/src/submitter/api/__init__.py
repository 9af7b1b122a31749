"""The public HTTP API (FastAPI), hosted by the submitter: every read goes to the bus."""
