"""All of the submitter's I/O: ComfyUI over HTTP, the backend registry in KV."""
