"""All of recovery's I/O: the job read model, the backend registry, the live policy, replay."""
