"""Where and how a command computes: the device, mixed precision, CPU threads, seeding (`arc.runtime.device`) and
the processes of a torchrun job (`arc.runtime.distributed`). Every command sets itself up through here.

`AMP_MODES` is stated here, without importing torch, so the command line can list it.
"""

AMP_MODES = ("auto", "none", "bf16", "fp16")
