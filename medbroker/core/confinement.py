"""What every jail of the platform covers (``core/jail.py``'s ``--hide``): a model under test and a company's
workspace alike must not reach the platform's code, database, secrets, uploads, test sets, other homes or
any dataset, nor where services keep their state and sockets and people their files.

One list for both, so that a folder added to the platform is covered everywhere at once.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from django.conf import settings

from medbroker.core.jail import ALWAYS_HIDDEN

# The platform's folders, by setting name: its code, data and secrets, the hub's state, the homes.
HIDDEN_SETTINGS = (
    "BASE_DIR",
    "VAR_DIR",
    "MEDIA_ROOT",
    "MEDBROKER_EVALUATION_ROOT",
    "MEDBROKER_WORKSPACE_ROOT",
    "MEDBROKER_HUB_STATE_DIR",
)
# Besides ALWAYS_HIDDEN: logs, and root's home whoever runs the worker.
ALSO_HIDDEN = ("/var/log", "/root")


def hidden_paths() -> list[str]:
    """The folders a jail covers: ``ALWAYS_HIDDEN`` and ``ALSO_HIDDEN``, the worker's home, the platform's
    folders and the data roots (``MEDBROKER_SCAN_ROOTS``), each where it really is (a link to it would
    otherwise lead around the cover). A jail binds back what its program needs (the interpreter; a
    workspace's home and granted datasets)."""
    found = [*ALWAYS_HIDDEN, *ALSO_HIDDEN]
    with contextlib.suppress(RuntimeError, KeyError):
        found.append(os.path.realpath(Path.home()))
    if settings.configured:
        for name in HIDDEN_SETTINGS:
            value = getattr(settings, name, None)
            if value:
                found.append(os.path.realpath(value))
        found += [os.path.realpath(root) for root in settings.MEDBROKER_SCAN_ROOTS]
    # "/" (a service account's home may be) would cover everything: the jail refuses it, so it is left
    # out here.
    return [path for path in dict.fromkeys(found) if path != "/"]
