"""comfy_recovery package."""
