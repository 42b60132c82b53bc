"""The licence gate of `just lint`: no copyleft-network or source-available licence in the runtime dependency closure.

It walks the project's runtime requirements (`[project].dependencies` and the optional extras that
are installed; the dev group is not shipped, so not walked) through their installed metadata, and
refuses any package licensed only under GPL, AGPL, SSPL, BUSL or FSL. LGPL libraries, used as
libraries, pass. A package that offers a choice (`MIT OR GPL-2.0`, or several licence classifiers)
passes when one choice does. Run: `python -m linter.licences` (exit 1 naming each package).
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# The families refused, each by its SPDX ids and its spelled-out name; GPL last, once the others are ruled out.
REFUSED = {
    "AGPL": re.compile(r"\bAGPL|AFFERO", re.IGNORECASE),
    "SSPL": re.compile(r"\bSSPL|SERVER SIDE PUBLIC LICEN[CS]E", re.IGNORECASE),
    "BUSL": re.compile(r"\bBUSL|\bBSL-1\.1|BUSINESS SOURCE LICEN[CS]E", re.IGNORECASE),
    "FSL": re.compile(r"\bFSL-\d|FUNCTIONAL SOURCE LICEN[CS]E", re.IGNORECASE),
    "GPL": re.compile(r"(?<![LA])\bGPL|(?<!LESSER )(?<!LIBRARY )GENERAL PUBLIC LICEN[CS]E", re.IGNORECASE),
}
# A GPL with a linking exception (GCC runtime, Classpath) binds nothing a library user does.
LINKING_EXCEPTION = re.compile(r"\bWITH\b.*exception", re.IGNORECASE)


@dataclass(frozen=True)
class Offender:
    package: str
    licence: str
    family: str


def refused_family(alternative: str) -> str | None:
    """The refused family one licence alternative belongs to (`AGPL-3.0-only` -> AGPL); None when it is allowed."""
    if LINKING_EXCEPTION.search(alternative):
        return None
    for part in re.split(r"\s+AND\s+", alternative.strip("() ")):
        for family, pattern in REFUSED.items():
            if pattern.search(part):
                return family
    return None


def licence_choices(meta: Mapping[str, object]) -> list[str]:
    """The licences a package offers: its License-Expression's alternatives, else its License line and licence classifiers."""
    expression = str(meta.get("License-Expression") or "").strip()
    if expression:
        return [choice.strip() for choice in re.split(r"\s+OR\s+", expression)]
    choices = []
    text = str(meta.get("License") or "").strip()
    if text and text.upper() != "UNKNOWN":
        choices.append(text.splitlines()[0].strip())  # a whole licence text starts with its name
    classifiers = meta.get("Classifier") or []
    assert isinstance(classifiers, list)
    choices += [c.split("::")[-1].strip() for c in classifiers if c.startswith("License ::") and c.count("::") >= 2]
    return choices


def offence(package: str, meta: Mapping[str, object]) -> Offender | None:
    """The package as an offender when every licence it offers is refused."""
    choices = licence_choices(meta)
    families = [refused_family(choice) for choice in choices]
    if not choices or not all(families):
        return None
    return Offender(package, " / ".join(choices), str(families[0]))


def closure(roots: Iterable[Requirement]) -> dict[str, metadata.Distribution]:
    """Every installed distribution the root requirements need, with the extras they ask for, by canonical name."""
    found: dict[str, metadata.Distribution] = {}
    seen: set[tuple[str, str]] = set()
    pending = [(requirement, "") for requirement in roots]
    while pending:
        requirement, parent_extra = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": parent_extra}):
            continue
        name = canonicalize_name(requirement.name)
        if name not in found:
            found[name] = metadata.distribution(requirement.name)
        for extra in ("", *sorted(requirement.extras)):
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            pending += [(Requirement(text), extra) for text in found[name].requires or []]
    return found


def runtime_requirements(pyproject: Path) -> list[Requirement]:
    """The project's runtime requirements: its dependencies and the optional extras whose packages are installed."""
    project = tomllib.loads(pyproject.read_text())["project"]
    roots = [Requirement(text) for text in project.get("dependencies", [])]
    for extra in project.get("optional-dependencies", {}).values():
        for text in extra:
            requirement = Requirement(text)
            try:
                metadata.distribution(requirement.name)
            except metadata.PackageNotFoundError:
                continue  # an extra not installed here is not checked here
            roots.append(requirement)
    return roots


def licence_fields(dist: metadata.Distribution) -> dict[str, object]:
    """The metadata fields that state a licence."""
    meta = dist.metadata
    return {"License-Expression": meta["License-Expression"], "License": meta["License"], "Classifier": meta.get_all("Classifier") or []}


def offenders(pyproject: Path = PROJECT) -> tuple[int, list[Offender]]:
    """How many runtime packages were checked, and the ones refused, by name."""
    packages = closure(runtime_requirements(pyproject))
    found = [offence(name, licence_fields(dist)) for name, dist in sorted(packages.items())]
    return len(packages), [o for o in found if o is not None]


def main() -> int:
    try:
        checked, refused = offenders()
    except metadata.PackageNotFoundError as exc:
        print(f"licence gate: runtime package {exc} is not installed; run `uv sync --frozen` first.", file=sys.stderr)
        return 1
    for offender in refused:
        print(f"licence gate: {offender.package} is {offender.family}-licensed ({offender.licence})", file=sys.stderr)
    if refused:
        print(
            f"licence gate: {len(refused)} of {checked} runtime packages refused: GPL, AGPL, SSPL, BUSL and FSL are not allowed.",
            file=sys.stderr,
        )
        return 1
    print(f"licence gate: {checked} runtime packages, none GPL, AGPL, SSPL, BUSL or FSL.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
