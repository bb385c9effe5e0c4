"""Which machine this is: the CPU's capabilities and the *kind* they make it (issue #17).

Every campaign machine has two cores, but the processor varies, and with it the speed of training
by a factor of up to 15: a CPU with AMX or AVX-512 BF16 runs the fast path in bf16, one with AVX2
only stays in fp32 (oneDNN would emulate bf16 many times slower). Runs, benchmark records and the
campaign's cost estimates are labelled with the kind, so that figures measured on one kind are
never read as those of another.
"""
from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

# Fastest first: the first kind whose flag the CPU has is its kind.
KINDS: dict[str, tuple[str, str]] = {
    "amx": ("amx_bf16", "AMX-BF16 (and AVX-512 BF16)"),
    "avx512-bf16": ("avx512_bf16", "AVX-512 BF16, no AMX"),
    "avx2": ("avx2", "AVX2 only, no native bf16"),
}
NATIVE_BF16 = ("amx", "avx512-bf16")


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def _field(info: str, name: str) -> str:
    for line in info.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return ""


def kind_of(flags: set[str]) -> str:
    """The kind of a CPU with these ``/proc/cpuinfo`` flags (``"other"`` if none of :data:`KINDS`)."""
    return next((k for k, (flag, _) in KINDS.items() if flag in flags), "other")


@functools.lru_cache(maxsize=1)
def capabilities() -> dict:
    """What this CPU can do for training: model name, cores, the flags that decide the kind, the kind."""
    info = _cpuinfo()
    flags = set(_field(info, "flags").split())
    wanted = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2")
    return {"model": _field(info, "model name") or platform.processor() or platform.machine(),
            "cores": os.cpu_count() or 1, "flags": [f for f in wanted if f in flags], "kind": kind_of(flags)}


def kind() -> str:
    """This machine's kind: ``amx``, ``avx512-bf16``, ``avx2`` or ``other``."""
    return capabilities()["kind"]


def describe(kind_name: str) -> str:
    """``"avx512-bf16"`` -> ``"AVX-512 BF16, no AMX"``."""
    return KINDS.get(kind_name, ("", "an unclassified CPU"))[1]
