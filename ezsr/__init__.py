"""ezsr: event-camera zero-shot object recognition.

Event streams (ezsr.Events) become tensors through ezsr.ops, which run compiled
CPU/CUDA kernels when the extension is built and pure-torch references otherwise.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from ezsr.events import EventBatch, Events  # noqa: E402


def info() -> dict[str, Any]:
    """What this installation can run.

    Returns a dict with: version, torch, kernels ("cpu", "cuda", "cpu+cuda" or
    "reference-only"), extension_error (why the extension did not load, or None),
    cuda_available, cuda_arch (e.g. "sm_90" of device 0, or None), cpu_threads.
    """
    import torch

    from ezsr import _ext

    backends = _ext.kernel_backends()
    arch = None
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        arch = f"sm_{major}{minor}"
    return {
        "version": __version__,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "kernels": "+".join(backends) if backends else "reference-only",
        "extension_error": _ext.LOAD_ERROR,
        "cuda_available": torch.cuda.is_available(),
        "cuda_arch": arch,
        "cuda_arch_list": torch.cuda.get_arch_list() if torch.cuda.is_available() else [],
        "cpu_threads": torch.get_num_threads(),
    }


__all__ = ["Events", "EventBatch", "info", "__version__"]
