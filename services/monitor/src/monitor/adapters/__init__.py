"""All of the monitor's I/O: ComfyUI reads over HTTP and websocket, NVML."""
