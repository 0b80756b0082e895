"""The tarfile module with extraction filters (PEP 706), on every Python we support.

Filters (``data_filter``, ``TarInfo.replace``, ``FilterError``) arrived in
CPython 3.11.4; Debian 12's system python3 is 3.11.2.  There the same module
comes from the ``backports.tarfile`` package (a dependency for Python < 3.12).
"""

import tarfile

if not hasattr(tarfile, "data_filter"):  # pragma: no cover - depends on the interpreter
    from backports import tarfile  # noqa: F811

__all__ = ["tarfile"]
