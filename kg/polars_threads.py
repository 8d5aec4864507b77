"""The size of polars' thread pool in the project's processes: one thread unless said otherwise.

The columnar engine (``kg.mapping_columnar``, ``kg.sources.csv_blocks``) hands polars blocks of
4 MiB: at that size polars' workers cost more than they give (measured in
``docs/guides/lheo-subject-memo.md``, "Polars' thread pool": with a pool of one thread the CSV maps take
less CPU and no more wall time than with one thread per core; the idle workers of a larger pool
spin between the small jobs). polars reads ``POLARS_MAX_THREADS`` once, when its pool starts, so
the setting must be in the environment before polars is first imported: ``kg/__init__.py``
applies it, which runs before any ``kg`` module imports polars.

- ``PASSERELLES_POLARS_THREADS`` (default ``1``): the pool's size, or ``auto`` for polars' own
  choice (one thread per core).
- A ``POLARS_MAX_THREADS`` the user set is left alone (it wins over the setting).
- A process that imported polars before ``kg`` keeps the pool it has (it cannot change).

The value goes into ``os.environ``, so processes started from a ``kg`` process inherit it,
as they inherit the rest of the environment. A value that is neither a positive number nor
``auto`` raises ``ValueError`` when ``kg`` is imported; the ``kg`` command itself then stops with
that one line (``error: PASSERELLES_POLARS_THREADS='many': ...``, exit status 2, no traceback).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import PurePath
from typing import TypeVar

SETTING = "PASSERELLES_POLARS_THREADS"
POLARS = "POLARS_MAX_THREADS"
DEFAULT = "1"
T = TypeVar("T")


def pool_size(environ: MutableMapping[str, str]) -> str | None:
    """Put the pool size for polars in ``environ`` and return it, or None when it is left to
    polars (``auto``) or to the user's own ``POLARS_MAX_THREADS``.

    >>> env = {}
    >>> pool_size(env), env
    ('1', {'POLARS_MAX_THREADS': '1'})
    >>> env = {"PASSERELLES_POLARS_THREADS": "2"}
    >>> pool_size(env), env["POLARS_MAX_THREADS"]
    ('2', '2')
    >>> env = {"PASSERELLES_POLARS_THREADS": "auto"}
    >>> pool_size(env), env
    (None, {'PASSERELLES_POLARS_THREADS': 'auto'})
    >>> env = {"POLARS_MAX_THREADS": "4"}
    >>> pool_size(env), env
    (None, {'POLARS_MAX_THREADS': '4'})
    >>> pool_size({"PASSERELLES_POLARS_THREADS": "many"})
    Traceback (most recent call last):
    ...
    ValueError: PASSERELLES_POLARS_THREADS='many': a number of threads (1 or more) or 'auto'
    """
    if POLARS in environ:
        return None
    value = environ.get(SETTING, DEFAULT).strip().lower()
    if value == "auto":
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{SETTING}={value!r}: a number of threads (1 or more) or 'auto'")
    environ[POLARS] = str(int(value))
    return environ[POLARS]


def apply() -> str | None:
    """``pool_size`` on this process's environment, if polars is not imported yet (its pool is
    then fixed: nothing to do)."""
    if "polars" in sys.modules:
        return None
    return pool_size(os.environ)


def is_command(argv: Sequence[str], orig_argv: Sequence[str]) -> bool:
    """Whether this process is the ``kg`` command (its console script, or ``python -m kg.cli``),
    from ``sys.argv`` and ``sys.orig_argv`` as they are while ``kg`` is imported (under ``-m``,
    ``sys.argv[0]`` is still ``"-m"`` then).

    >>> is_command(["/p/.venv/bin/kg", "build"], ["/p/.venv/bin/python", "/p/.venv/bin/kg", "build"])
    True
    >>> is_command(["-m", "build"], ["python", "-m", "kg.cli", "build"])
    True
    >>> is_command(["-c"], ["python", "-c", "import kg"]), is_command(["-m"], ["python", "-m", "pytest"])
    (False, False)
    """
    if argv and argv[0] == "-m":
        after = list(orig_argv).index("-m") + 1 if "-m" in orig_argv else len(orig_argv)
        return list(orig_argv[after : after + 1]) == ["kg.cli"]
    return bool(argv) and PurePath(argv[0]).name.removesuffix(".exe") == "kg"


def apply_for_command(setting: Callable[[], T]) -> T:
    """``setting`` (``apply``, or ``kg.allocator.apply``), run by ``kg/__init__.py``:
    a bad setting raises its ``ValueError`` on import, but stops the ``kg`` command with that one
    line on stderr and exit status 2, no traceback (the check runs when ``kg`` is imported, before
    the command's own error handling exists)."""
    try:
        return setting()
    except ValueError as exc:
        if not is_command(sys.argv, getattr(sys, "orig_argv", [])):
            raise
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None
