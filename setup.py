"""Builds ezsr._C: CUDAExtension where torch has CUDA and nvcc exists, else CppExtension.

Install with `pip install --no-build-isolation -e .` so the build uses the torch that is
already installed. The flags live in ezsr/_build_flags.py.
"""

import importlib.util
import os

from setuptools import setup
from torch.utils.cpp_extension import BuildExtension

_spec = importlib.util.spec_from_file_location(
    "ezsr_build_flags", os.path.join(os.path.dirname(__file__), "ezsr", "_build_flags.py")
)
flags = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(flags)

setup(
    ext_modules=[flags.extension()],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
