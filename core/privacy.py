"""Personal data: the tag a column carries, who sees through its mask, and the SQL that masks it.

A source table declares its personal columns with a mask (`personal:` in config.yaml); the
tag follows each column through the models (transform/lineage.py) and is recorded per mart
in the published version's manifest. A reader whose role is not in
`privacy.personal_data_roles` sees every tagged column masked, by a view expression:

- `hash`: the first 16 hex characters of sha256(salt || value); equal values give equal
  hashes, so joins, counts and filters by the hash still work; NULL stays NULL.
- `partial`: the first character and `***` (`Berlin` -> `B***`), as text; NULL stays NULL.
- `remove`: the column is absent.

The salt is the secret in the environment variable `privacy.hash_salt_env`; without it, a
random salt kept in the data folder (`.pii-salt`, readable by its owner only), made on first use.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from core.settings import Settings
from core.settings_sources import Mask
from core.warehouse import sql_identifier, sql_literal

MASKS: tuple[Mask, ...] = get_args(Mask)
STRICTNESS: dict[str, int] = {"partial": 1, "hash": 2, "remove": 3}
HASH_CHARS = 16
SALT_FILE = ".pii-salt"


@dataclass(frozen=True)
class PersonalColumn:
    """A personal column: its mask, and the source columns (`<source>.<table>.<column>`) it derives from."""

    mask: Mask
    origins: tuple[str, ...]

    def to_json(self) -> dict:
        return {"mask": self.mask, "from": list(self.origins)}

    @classmethod
    def from_json(cls, value: Mapping) -> PersonalColumn:
        mask = value["mask"]
        if mask not in MASKS:
            raise ValueError(f"unknown mask {mask!r}")
        return cls(mask=mask, origins=tuple(value["from"]))


Personal = Mapping[str, PersonalColumn]  # column -> its tag, for one table


def strictest(tags: Iterable[PersonalColumn]) -> PersonalColumn | None:
    """One tag for a column derived from several personal ones: the strictest mask, every origin."""
    tags = list(tags)
    if not tags:
        return None
    mask = max((tag.mask for tag in tags), key=STRICTNESS.__getitem__)
    return PersonalColumn(mask=mask, origins=tuple(sorted({origin for tag in tags for origin in tag.origins})))


def declared_masks(settings: Settings) -> dict[str, Mask]:
    """Today's declared personal columns, as the origins tags name them (`<source>.<table>.<column>`), with their masks."""
    return {
        f"{source}.{table}.{column}": mask
        for source, spec in settings.sources.items()
        for table, declaration in spec.tables.items()
        for column, mask in declaration.personal.items()
    }


def sees_personal(settings: Settings, role: str | None) -> bool:
    """Whether a reader of `role` (None: no role, e.g. no login) sees personal values unmasked."""
    return role is not None and role in settings.privacy.personal_data_roles


def hash_salt(settings: Settings) -> str:
    """The salt of the `hash` mask: from the environment, else the data folder's own, made once."""
    variable = settings.privacy.hash_salt_env
    if variable in settings.secrets:
        return settings.secret(variable)
    path = settings.data_dir / SALT_FILE
    if not path.exists():
        _make_salt(path)
    return path.read_text().strip()


def _make_salt(path: Path) -> None:
    """Write a new salt beside `path`, then link it into place: a reader sees no salt or a whole one, and
    when two processes race, the first link wins and both use its salt."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def masked_select(select: str, personal: Personal, salt: str) -> str:
    """`select` (a SELECT of a table's columns) with its personal columns masked; unchanged without any."""
    removed = [sql_identifier(column) for column, tag in personal.items() if tag.mask == "remove"]
    replaced = [
        f"{_expression(sql_identifier(column), tag.mask, salt)} AS {sql_identifier(column)}"
        for column, tag in personal.items()
        if tag.mask != "remove"
    ]
    if not removed and not replaced:
        return select
    star = "*" + (f" EXCLUDE ({', '.join(removed)})" if removed else "") + (f" REPLACE ({', '.join(replaced)})" if replaced else "")
    return f"SELECT {star} FROM ({select})"


def _expression(column: str, mask: Mask, salt: str) -> str:
    text = f"CAST({column} AS VARCHAR)"
    if mask == "hash":
        return f"left(sha256({sql_literal(salt)} || {text}), {HASH_CHARS})"
    return f"left({text}, 1) || '***'"
