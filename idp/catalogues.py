"""Compiled translation catalogues (.mo) from their sources (.po).

The .po files are the source; the .mo files are build products. The wheel gets
them from ``setup.py``'s build step; a checkout or an editable install compiles
them when the app starts and they are missing or older than their source.
This module needs only Babel, since the build loads it without the app."""

import logging
import os
import tempfile

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger("idp.catalogues")


def stale_catalogues(directory):
    """``(po, mo)`` paths under ``directory`` whose .mo is missing or older than the .po."""
    found = []
    for root, _dirs, files in os.walk(directory):
        for name in files:
            if name.endswith(".po"):
                po = os.path.join(root, name)
                mo = po[:-3] + ".mo"
                if not os.path.exists(mo) or os.path.getmtime(mo) < os.path.getmtime(po):
                    found.append((po, mo))
    return sorted(found)


def compile_catalogue(po, mo):
    """Write ``mo`` from ``po`` atomically (several workers may start at once)."""
    with open(po, "rb") as fh:
        catalogue = read_po(fh)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(mo), suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write_mo(fh, catalogue, use_fuzzy=False)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from a service user
        os.replace(tmp, mo)
    except BaseException:
        os.unlink(tmp)
        raise


def ensure_compiled(directory):
    """Compile the stale catalogues under ``directory``; a read-only install is
    left as it is (its wheel brought compiled ones)."""
    for po, mo in stale_catalogues(directory):
        try:
            compile_catalogue(po, mo)
            log.info("compiled %s", os.path.relpath(mo, directory))
        except OSError as exc:
            log.warning("cannot compile %s: %s", mo, exc)
