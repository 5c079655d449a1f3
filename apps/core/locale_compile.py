"""Compiles the message catalogues (locale/<lang>/LC_MESSAGES/*.po -> .mo) in pure Python with polib, so neither a
fresh clone nor a production image needs GNU gettext. Only the .po files are committed; ``make install``, the image
build and the test run compile them (``manage.py compile_catalogues``). Importable before Django is set up."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import polib


def catalogue_compile(*, locale_dirs: Iterable[Path], force: bool = False) -> list[Path]:
    """Write each .po's .mo when it is missing or older than the .po (or always, with ``force``); returns the .mo
    files written. Fuzzy entries are left out, as msgfmt does."""
    written = []
    for locale_dir in locale_dirs:
        for po_path in sorted(Path(locale_dir).glob("*/LC_MESSAGES/*.po")):
            mo_path = po_path.with_suffix(".mo")
            if not force and mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                continue
            catalogue = polib.pofile(str(po_path))
            for entry in catalogue.fuzzy_entries():
                catalogue.remove(entry)
            # Written aside and renamed: parallel test workers compiling at once never read half a file.
            fd, tmp = tempfile.mkstemp(dir=mo_path.parent, suffix=".mo.tmp")
            os.close(fd)
            try:
                catalogue.save_as_mofile(tmp)
                os.replace(tmp, mo_path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            written.append(mo_path)
    return written
