"""Build hook for the optional native accelerator (sopsy/_native.c; see its header comment).

Everything else is in pyproject.toml. The extension needs OpenSSL's headers (Debian:
libssl-dev). Where it cannot be built, the install still succeeds and sopsy runs the same
decryption in pure Python, only slower on large JSON and dotenv files.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("sopsy._native", ["sopsy/_native.c"], libraries=["crypto"], optional=True,
                  extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]),
    ],
)
