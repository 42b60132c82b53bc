"""The project's `.env`: secrets for this machine, owner-only (0600), written in place of the keys it updates."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

OWNER_ONLY_FILE, OWNER_ONLY_DIR = 0o600, 0o700
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def set_values(path: Path, values: Mapping[str, str]) -> None:
    """Set `values` in the `.env` at `path` (replacing a key's line, else appending), leaving it owner-only."""
    lines = path.read_text().splitlines() if path.exists() else []
    kept = [line for line in lines if not ((match := _ASSIGNMENT.match(line)) and match.group(1) in values)]
    kept += [f"{name}={value}" for name, value in values.items()]
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, OWNER_ONLY_FILE)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("\n".join(kept) + "\n")
    os.chmod(temporary, OWNER_ONLY_FILE)
    os.replace(temporary, path)


def owner_only(root: Path) -> None:
    """Take group and other access away from `root` and everything under it (files 0600-or-less, folders 0700)."""
    if not root.exists():
        return
    os.chmod(root, OWNER_ONLY_DIR if root.is_dir() else os.stat(root).st_mode & 0o700)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), OWNER_ONLY_DIR)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode & 0o700)
