"""Lazy public names for a package's `__init__` (PEP 562): a name's module is imported when the name is first used,
so light modules (the registries, the CLI's option lists) import without torch."""

from __future__ import annotations

import importlib


def exports(package: str, public: dict[str, str]):
    """`__getattr__` for the package `package`, resolving each name of `public` (name -> module) on first use."""

    def __getattr__(name: str):
        if name in public:
            return getattr(importlib.import_module(public[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
