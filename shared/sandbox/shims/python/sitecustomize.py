"""Detonation sandbox start-up hook.

Appends a finder at the end of sys.meta_path that serves a small stand-in for
popular packages the interpreter does not have (requests, httpx), so that a script
gets past its imports and shows what it does. Installed packages always win:
this finder is asked only after every real one has failed.
"""
import importlib.abc
import importlib.util
import os
import sys

_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_fallback")


class _Fallback(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if "." in name:
            return None  # submodules are found next to the package by the normal finders
        init = os.path.join(_DIR, name, "__init__.py")
        if not os.path.exists(init):
            return None
        return importlib.util.spec_from_file_location(name, init, submodule_search_locations=[os.path.dirname(init)])


sys.meta_path.append(_Fallback())
