"""Detonation sandbox driver.

Imports one Python file of a skill and calls each of its top-level functions
once with plausible arguments, the way an agent that uses the file as a
library would. Exceptions (SystemExit included) are printed and the next
function is called.
"""
import asyncio
import importlib.util
import inspect
import os
import sys

MAX_CALLS = 30
SAMPLE = os.path.join(os.getcwd(), "SKILL.md")  # a file to pass where a path is wanted


def argument(name):
    n = name.lower()
    if any(w in n for w in ("path", "file")):
        return SAMPLE
    if any(w in n for w in ("dir", "folder", "root")):
        return os.getcwd()
    if any(w in n for w in ("url", "endpoint", "link", "host")):
        return "https://example.com/"
    if n in ("n", "count", "limit", "size", "num", "timeout", "port", "depth", "retries", "max_results"):
        return 1
    if n.startswith(("is_", "use_", "enable", "verbose", "debug", "dry")):
        return False
    if n in ("args", "argv", "options", "config", "params", "kwargs", "data_dict"):
        return {}
    return "test"


def main(path):
    global SAMPLE
    if not os.path.exists(SAMPLE):
        SAMPLE = os.path.abspath(path)
    spec = importlib.util.spec_from_file_location("skill_module", path)
    module = importlib.util.module_from_spec(spec)
    sys.argv = [path]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        print("import:", type(exc).__name__, exc, flush=True)
        return
    calls = 0
    for name, fn in sorted(vars(module).items()):
        if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != module.__name__:
            continue
        if calls == MAX_CALLS:
            break
        calls += 1
        try:
            params = inspect.signature(fn).parameters.values()
            args = [argument(p.name) for p in params
                    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            print("call", name, flush=True)
            result = fn(*args)
            if inspect.iscoroutine(result):
                asyncio.run(result)
        except BaseException as exc:
            print("  ", type(exc).__name__, str(exc)[:200], flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
