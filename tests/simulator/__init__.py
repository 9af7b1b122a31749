"""A ComfyUI-compatible simulator with fault injection (test and demo harness only)."""
