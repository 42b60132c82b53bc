"""The app's low-severity side doors, closed: `?env=` shows no trace and no caller's link, a page a user may not
open is logged as denied, data-browser views name their mart and version, refused logins are logged by name only."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from app.auth import hash_password
from core import accesslog
from publish.reader import current_version
from tests.support.app_pages import app_on, log_in

pytestmark = pytest.mark.slow


def logged(meta_path: Path) -> list[dict]:
    with contextlib.closing(sqlite3.connect(meta_path)) as con:
        con.row_factory = sqlite3.Row
        return [dict(row) for row in con.execute("SELECT * FROM access_log ORDER BY rowid")]


@pytest.mark.parametrize(
    "env",
    ["a" * 300, "dev` [open this](http://attacker.example/login) `", "[click](javascript:alert(1))", "../../etc"],
)
def test_a_bad_env_in_the_url_shows_prod_with_a_plain_warning(built, monkeypatch, env):
    at = app_on(built[0].data_dir, monkeypatch, env=env)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Overview"
    warnings = [w.value for w in at.sidebar.warning]
    assert warnings and all("showing prod" in w for w in warnings)
    shown = " ".join(warnings + [m.value for m in at.sidebar.markdown] + [m.value for m in at.markdown])
    assert "attacker.example" not in shown and "javascript" not in shown and "a" * 64 not in shown


def test_an_operator_page_asked_for_by_a_business_user_is_logged_as_denied(built_copy, monkeypatch):
    settings = built_copy
    at = log_in(settings, monkeypatch, "anna", "business")
    before = len(logged(settings.meta_path))
    at.switch_page("views/pipeline_health.py").run()
    assert not at.exception and at.title[0].value == "Overview"
    assert any("is for operators" in w.value for w in at.warning)
    rows = [(r["principal"], r["action"], r["subject"]) for r in logged(settings.meta_path)[before:]]
    assert rows == [("anna", "denied", "Pipeline health")]


def test_a_data_browser_view_names_its_mart_and_version(built_copy, monkeypatch):
    settings = built_copy
    at = log_in(settings, monkeypatch, "oleg", "operator")
    at.query_params["table"] = "daily_revenue"
    before = len(logged(settings.meta_path))
    at.switch_page("views/browser.py").run()
    assert not at.exception, [e.value for e in at.exception]
    version = current_version(settings).version
    rows = [(r["action"], r["subject"], r["detail"], r["version"]) for r in logged(settings.meta_path)[before:]]
    assert rows == [("view", "Data browser", "mart=daily_revenue", version)]


def test_a_refused_login_is_logged_by_name_only_when_the_user_exists(tmp_path):
    meta = tmp_path / "meta.db"
    accesslog.login_refused(meta, user="anna", known=True, client="127.0.0.1")
    accesslog.login_refused(meta, user="hunter2-typed-as-a-name", known=False, client="127.0.0.1", reason="throttled")
    rows = [(r["channel"], r["principal"], r["action"], r["status"], r["detail"], r["client"]) for r in logged(meta)]
    assert rows == [
        ("app", "anna", "login", 401, "wrong password", "127.0.0.1"),
        ("app", "(unknown user)", "login", 401, "throttled", "127.0.0.1"),
    ]


def test_refused_logins_in_the_app_are_in_the_access_log_without_what_was_typed(built_copy, monkeypatch):
    settings = built_copy
    monkeypatch.setenv("PLATFORM__APP__USERS__ANNA__ROLE", "business")
    monkeypatch.setenv("APP_PASSWORD_HASH_ANNA", hash_password("anna-secret"))
    monkeypatch.setenv("APP_SESSION_SECRET", "s" * 32)
    before = len(logged(settings.meta_path))
    at = app_on(settings.data_dir, monkeypatch)
    for user, password in (("anna", "not-her-password"), ("hunter2-typed-as-a-name", "x")):
        at.text_input[0].input(user)
        at.text_input[1].input(password)
        at.button[0].click().run()
    rows = logged(settings.meta_path)[before:]
    assert [(r["principal"], r["action"], r["status"], r["detail"]) for r in rows] == [
        ("anna", "login", 401, "wrong password"),
        ("(unknown user)", "login", 401, "wrong password"),
    ]
    assert "hunter2" not in repr(rows) and "not-her-password" not in repr(rows)
