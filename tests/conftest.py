"""Shared fixtures: settings on a temporary data folder, one small end-to-end build, alert receivers, a PostgreSQL cluster."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from pipeline.run import RunSummary, run_all
from publish.reader import current_version
from tests.support.postgres import postgres  # noqa: F401 (a fixture: a throwaway cluster per module that asks for it)
from tests.support.project import settings_for


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "data")


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Iterator[tuple[Settings, RunSummary]]:
    """One end-to-end run on the small demo shop; tests that use it only read (a test that publishes
    on it would change what the tests after it see: the session ends with an error naming that)."""
    settings = settings_for(tmp_path_factory.mktemp("built") / "data")
    summary = run_all(settings)
    yield settings, summary
    assert current_version(settings).version == summary.published_version, "a test published on `built`: use `built_copy`"


@pytest.fixture
def built_copy(built, tmp_path: Path) -> Settings:
    """Settings on a private copy of the session's small build, for a test that changes it: a copy
    takes a fraction of a second where a first build takes twenty."""
    settings, _ = built
    shutil.copytree(settings.data_dir, tmp_path / "data")
    return settings_for(tmp_path / "data")


@pytest.fixture
def receivers():
    """A real webhook (HTTP) and SMTP server on loopback that record what they receive."""
    from tests.support.receivers import SmtpReceiver, WebhookReceiver

    webhook, smtp = WebhookReceiver(), SmtpReceiver()
    yield webhook, smtp
    webhook.close()
    smtp.close()
