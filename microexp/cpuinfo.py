"""What ``/proc/cpuinfo`` says of this CPU: its model name and feature flags.

Light on purpose (no torch): the video writer asks it which x264 code to use, the models' fast path
which reduced precisions run natively. Elsewhere than Linux there is no such file and nothing is claimed.
"""

from __future__ import annotations


def read_cpuinfo() -> str:
    """The text of ``/proc/cpuinfo`` ("" where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def model_and_flags(text: str) -> tuple[str, frozenset[str]]:
    """The first processor's model name and feature flags (``flags`` on x86, ``Features`` on ARM)."""
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = frozenset(value.split())
    return model, flags
