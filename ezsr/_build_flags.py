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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from setuptools import Extension

# The C++ standards of the project, one per language, for setup.py, JIT builds and CMake alike
# (CMakeLists.txt reads these two lines, so the builds cannot disagree). C++ sources: C++20, as
# torch >= 2.10 builds its extensions. CUDA sources: C++17, which every supported nvcc and
# CMake >= 3.18 accept (CMake 3.25 has no CUDA20 flag for nvcc).
CXX_STANDARD = 20
CUDA_STANDARD = 17

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
    std = f"-std=c++{CXX_STANDARD}"
    args = {"cxx": cxx_opt + [std, "-fopenmp", "-ffp-contract=off", "-DEZSR_WITH_TORCH"]}
    if cuda:
        args["cxx"].append("-DEZSR_WITH_CUDA")
        args["nvcc"] = opt + [f"-std=c++{CUDA_STANDARD}", "--expt-relaxed-constexpr", "-lineinfo"]
    return args


def extension(name: str = "ezsr._C") -> Extension:
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
