"""`comfy-recovery campaign`: the same seeded jobs and faults under several recovery policies.

Modules: `mix` (the jobs, their faults and labels), `seedtable` (the seed system's decision
table), `watch` and `baseline` (client-side policies talking to ComfyUI), `ours` (the real
system), `metrics` and `report` (figures), `command` (the CLI command).
"""
