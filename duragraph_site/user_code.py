"""Loading the user's code that ``langgraph.json`` names as ``"./path/file.py:name"`` or
``"package.module:name"``: graphs (``assistants.graphs``) and the store's embedding function
(``store.embeddings``)."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import threading
from pathlib import Path
from typing import Any

#: Held while a file runs: another name of the same file, loaded on another thread, must wait
#: for the whole module instead of finding it half run in ``sys.modules``.
_FILE_MODULES_LOCK = threading.RLock()


def file_module(target: str) -> Any:
    """The module of the Python file *target* (an absolute path), run once per process (as an
    import would)."""
    module_name = f"duragraph_graphs.{re.sub(r'[^A-Za-z0-9_]', '_', target)}"
    with _FILE_MODULES_LOCK:
        module = sys.modules.get(module_name)
        if module is not None:
            return module
        spec = importlib.util.spec_from_file_location(module_name, target)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {target}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # as an import does: the file may import itself
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]  # a failed run leaves nothing half made behind
            raise
        return module


def is_file_target(target: str) -> bool:
    """Whether the part before ``:`` names a file rather than a module."""
    return target.endswith(".py") or "/" in target


def load_attribute(spec: str, base: Path) -> Any:
    """The object *spec* names: ``"path/file.py:name"`` (relative to *base*) or
    ``"package.module:name"``.

    Raises:
        ImportError: the file or module cannot be loaded.
        AttributeError: it has no such name.
    """
    target, name = spec.rsplit(":", 1)
    if is_file_target(target):
        path = Path(target)
        module = file_module(str(path if path.is_absolute() else (base / path).resolve()))
    else:
        module = importlib.import_module(target)
    return getattr(module, name)
