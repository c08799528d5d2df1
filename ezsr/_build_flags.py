"""Build flags of the ezsr extension, in one place for setup.py and JIT builds.

Environment variables:
  EZSR_NO_CUDA=1         build the CPU extension even where torch has CUDA and nvcc exists
  TORCH_CUDA_ARCH_LIST   CUDA architectures (read by torch's build helpers; default "9.0")
  MAX_JOBS               parallel compile jobs (read by torch's build helpers)
  DEBUG=1                -O0 -g instead of -O3
"""

from __future__ import annotations

import glob
import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")


def want_cuda() -> bool:
    """True when the CUDA extension should be built: torch has CUDA and nvcc is found."""
    if os.environ.get("EZSR_NO_CUDA", "0") == "1":
        return False
    import torch
    from torch.utils.cpp_extension import CUDA_HOME

    return torch.version.cuda is not None and (
        CUDA_HOME is not None or shutil.which("nvcc") is not None
    )


def sources(cuda: bool) -> list[str]:
    """Source files of ezsr._C, relative to the repository root.

    csrc/core/*.cpp and csrc/torch/*.cpp always; csrc/core/*.cu and
    csrc/torch/cuda/*.cpp only in CUDA builds.
    """
    pats = ["csrc/core/*.cpp", "csrc/torch/*.cpp"]
    if cuda:
        pats += ["csrc/core/*.cu", "csrc/torch/cuda/*.cpp"]
    files: list[str] = []
    for pat in pats:
        files += sorted(glob.glob(os.path.join(ROOT, pat)))
    return [os.path.relpath(f, ROOT) for f in files]


def compile_args(cuda: bool) -> dict[str, list[str]]:
    debug = os.environ.get("DEBUG", "0") == "1"
    opt = ["-O0", "-g"] if debug else ["-O3"]
    # -g0 in release builds: Python's own CFLAGS add -g (12 MB of DWARF on 0.3 MB of code)
    cxx_opt = opt if debug else opt + ["-g0"]
    args = {"cxx": cxx_opt + ["-std=c++20", "-fopenmp", "-ffp-contract=off", "-DEZSR_WITH_TORCH"]}
    if cuda:
        args["cxx"].append("-DEZSR_WITH_CUDA")
        args["nvcc"] = opt + ["-std=c++17", "--expt-relaxed-constexpr", "-lineinfo"]
    return args


def extension(name: str = "ezsr._C"):
    """The setuptools Extension for ezsr._C (CUDAExtension or CppExtension)."""
    from torch.utils.cpp_extension import CppExtension, CUDAExtension

    cuda = want_cuda()
    if cuda:
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "9.0")
    cls = CUDAExtension if cuda else CppExtension
    return cls(
        name=name,
        sources=sources(cuda),
        include_dirs=[os.path.join(CSRC, "include")],
        extra_compile_args=compile_args(cuda),
        extra_link_args=["-fopenmp"],
    )
