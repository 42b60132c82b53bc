"""Bad configuration is refused at startup: the key and the fix named, exit code 1, no traceback.

Each case goes through a real entry point (`pipeline.cli run`, `scheduler.cli serve` or `start`) in this process
(their `main`, as `python -m` calls it), on a copy of config.yaml with the fault in it, or with
the fault in the environment. Nothing may be written to the data folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline import cli
from scheduler import cli as scheduler_cli
from tests.support.project import ROOT

FIX = "Fix the keys above in config.yaml"


def _drop(*path):
    def edit(platform):
        node = platform
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return edit


def _gateway(**connector_config):
    """An edit of the local gateway's DuckDB settings (not of `variables.platform`)."""

    def edit(document):
        document["gateways"]["local"]["connection"]["connector_config"] = connector_config

    edit.whole_document = True
    return edit


def _duplicate_lines(key: str) -> list[str]:
    """What the message names when `key: ...` is appended to config.yaml (after a blank line): both lines."""
    lines = (ROOT / "config.yaml").read_text().splitlines()
    first = next(number for number, line in enumerate(lines, 1) if line.startswith(f"{key}:"))
    return [f"line {len(lines) + 2}: duplicate key {key!r}", f"first given on line {first}"]


def _whole(content: bytes):
    """The whole config.yaml replaced by `content`."""

    def edit(document):
        raise AssertionError("written as is")

    edit.content = content
    return edit


def _set(*path, value):
    def edit(platform):
        node = platform
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    return edit


# (id, entry point, edit of variables.platform (or of the whole document) in config.yaml, environment, what the message must name)
CASES = [
    ("missing key", "run", _drop("sources", "shop", "path"), {}, ["sources.shop.path", "required key is missing", FIX]),
    ("missing tables", "run", _drop("sources", "shop", "tables"), {}, ["sources.shop.tables", "required key is missing", FIX]),
    ("unknown key", "run", _set("lake", "bakend", value="s3"), {}, ["lake.bakend", "unknown key; remove it or check its spelling"]),
    ("unknown section from env", "run", None, {"PLATFORM__LAKEE__BACKEND": "s3"}, ["lakee", "PLATFORM__LAKEE__BACKEND", "unknown key"]),
    ("mistyped number", "run", None, {"PLATFORM__DEMO__SCALE": "zero"}, ["demo.scale", "PLATFORM__DEMO__SCALE", "valid number", FIX]),
    ("mistyped bool", "run", _set("lake", "s3", "use_tls", value="sometimes"), {}, ["lake.s3.use_tls", "valid boolean", FIX]),
    ("bad backend", "run", _set("lake", "backend", value="gcs"), {}, ["lake.backend", "'local' or 's3'"]),
    (
        "unknown source kind",
        "run",
        _set("sources", "shop", "kind", value="oracle"),
        {},
        ["sources.shop.kind", "'sqlite', 'postgres', 'rest_api', 'files'"],
    ),
    (
        "bad source cron",
        "run",
        _set("sources", "shop", "schedule", value="every hour"),
        {},
        ["sources.shop.schedule", "5-field cron expression (minute hour day month weekday)"],
    ),
    (
        "bad cron value",
        "run",
        _set("sources", "shop", "schedule", value="61 * * * *"),
        {},
        ["sources.shop.schedule", "not a valid cron expression", "maximum value (59)"],
    ),
    (
        "bad job cron",
        "serve",
        None,
        {"PLATFORM__JOBS__DEFINE": json.dumps({"nightly": {"task": "hello_world", "schedule": "0 25 * * *"}})},
        ["jobs.define.nightly.schedule", "PLATFORM__JOBS__DEFINE", "not a valid cron expression"],
    ),
    (
        "job after nothing",
        "serve",
        None,
        {"PLATFORM__JOBS__DEFINE": json.dumps({"report": {"task": "hello_world", "after": ["nightly"]}})},
        ["jobs.define.report", "'nightly'", "matches no enabled job"],
    ),
    (
        "secret written in config",
        "run",
        _set("lake", "s3", "secret_key", value="hunter2-in-yaml"),
        {},
        ["lake.s3.secret_key", "unknown key"],
    ),
    (
        "missing lake keys",
        "run",
        None,
        {"PLATFORM__LAKE__BACKEND": "s3"},
        ["LAKE_S3_ACCESS_KEY_ID and LAKE_S3_SECRET_ACCESS_KEY", "put the keys in the environment or `.env`"],
    ),
    (
        "missing postgres password",
        "run",
        _set(
            "sources",
            "erp",
            value={"kind": "postgres", "database": "erp", "user": "loader", "password_env": "ERP_PG_PASSWORD", "tables": {"invoices": {}}},
        ),
        {},
        ["Source 'erp'", "ERP_PG_PASSWORD", "set it in the environment or in .env"],
    ),
    (
        "missing api token",
        "run",
        _set(
            "sources",
            "helpdesk",
            value={
                "kind": "rest_api",
                "base_url": "http://127.0.0.1:9/api",
                "auth": {"token_env": "HELPDESK_TOKEN"},
                "endpoints": {"tickets": {"path": "tickets"}},
            },
        ),
        {},
        ["Source 'helpdesk'", "HELPDESK_TOKEN", "set it in the environment or in .env"],
    ),
    (
        "webhook without url",
        "serve",
        None,
        {"PLATFORM__ALERTS__CHANNELS": json.dumps({"slack": {"kind": "webhook"}})},
        ["Alert channel 'slack'", "ALERTS_SLACK_WEBHOOK_URL"],
    ),
    (
        "smtp without password",
        "serve",
        None,
        {"PLATFORM__ALERTS__CHANNELS": json.dumps({"email": {"kind": "email", "username": "ops", "to": ["ops@example.com"]}})},
        ["Alert channel 'email'", "ALERTS_EMAIL_SMTP_PASSWORD"],
    ),
    ("not yaml", "run", "broken: [yaml", {}, ["config.yaml is not valid YAML"]),
    ("duplicate key", "run", "default_gateway: local", {}, ["config.yaml", *_duplicate_lines("default_gateway")]),
    ("top-level list", "run", _whole(b"- variables\n- platform\n"), {}, ["config.yaml", "a mapping of keys", "not a list"]),
    ("binary file", "run", _whole(bytes(range(256)) * 4), {}, ["config.yaml", "not a text file"]),
    ("infinite scale", "run", _set("demo", "scale", value=float("inf")), {}, ["demo.scale", "finite number", FIX]),
    (
        "bad duckdb memory limit",
        "run",
        _gateway(memory_limit="lots"),
        {},
        ["gateways.local.connection.connector_config", "Memory must have a number", "memory_limit: 768MB"],
    ),
    ("unknown duckdb setting", "start", _gateway(threds=2), {}, ["gateways.local.connection.connector_config", "threds"]),
    ("unknown time zone", "run", _gateway(TimeZone="Nowhere/Land"), {}, ["gateways.local.connection.connector_config", "Unknown TimeZone"]),
    ("unknown gateway", "run", None, {"PLATFORM__TRANSFORM__GATEWAY": "lokal"}, ["No gateway 'lokal'", "transform.gateway"]),
]


def _project(tmp_path: Path, edit) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    if hasattr(edit, "content"):
        (project / "config.yaml").write_bytes(edit.content)
        return project
    if isinstance(edit, str):
        (project / "config.yaml").write_text((ROOT / "config.yaml").read_text() + "\n" + edit + "\n")
        return project
    document = yaml.safe_load((ROOT / "config.yaml").read_text())
    if getattr(edit, "whole_document", False):
        edit(document)
    elif edit is not None:
        edit(document["variables"]["platform"])
    # wide lines: a folded double-quoted string would put a backslash inside the template
    (project / "config.yaml").write_text(yaml.dump(document, Dumper=_JinjaSafeDumper, width=100_000))
    return project


class _JinjaSafeDumper(yaml.SafeDumper):
    """Writes `{{ env_var('X', 'y') }}` in double quotes: SQLMesh renders the file as Jinja before
    it parses the YAML, and single-quoted YAML would double the quotes inside the template."""


_JinjaSafeDumper.add_representer(
    str, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"' if "{{" in text else None)
)


@pytest.mark.parametrize(("entry", "edit", "env", "named"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_configuration_is_refused_at_startup(entry, edit, env, named, tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    for name in [n for n in __import__("os").environ if n.startswith("PLATFORM__") or n.startswith("LAKE_S3_")]:
        monkeypatch.delenv(name)
    for name, value in {"PLATFORM__DATA_DIR": str(data), **env}.items():
        monkeypatch.setenv(name, value)
    project = _project(tmp_path, edit)
    main = cli.main if entry == "run" else scheduler_cli.main
    code = main(["--project", str(project), entry])
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert code == 1, output
    missing = [text for text in named if text not in " ".join(output.split())]
    assert not missing, f"the message does not name {missing}:\n{output}"
    assert "Traceback" not in output and "hunter2" not in output
    assert len(output.strip().splitlines()) <= len(named) + 12, output
    assert not (data / "warehouse.duckdb").exists() and not (data / "lake").exists()
