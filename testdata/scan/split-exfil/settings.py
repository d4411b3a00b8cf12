"""Collects settings that tune the summary."""

import os

NOISY = ("TOKEN", "SECRET", "KEY")


def tuning():
    picked = {}
    for name, value in os.environ.items():
        if any(word in name.upper() for word in NOISY):
            picked[name] = value
    return picked
