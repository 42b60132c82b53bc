"""docs/tutorial.md, executed: a dataset that is not the demo shop, onboarded with config.yaml and SQL only (issue 20).

The files the tutorial writes are read from the page itself (each block under a
`<!-- tutorial: ... -->` line), applied to a copy of the project, and run through the
scheduler's jobs in their worker processes, as `just test-job` runs them. The mart must equal
the same numbers computed with pandas straight from the dropped CSV files, before and after a
later drop that changes one loan and adds another, and the data browser must show it.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from core.settings import Settings, load_settings
from publish.reader import connect_published
from scheduler.jobs import job_specs
from scheduler.runner import Runner
from tests.support.app_pages import app_on, download_labels
from tests.support.project import ROOT, SMALL_SCALE, copy_project, run_cli

TUTORIAL = ROOT / "docs" / "tutorial.md"
FIXTURES = ROOT / "tests" / "fixtures" / "library"
FIRST_DROPS = [FIXTURES / "loans-2025-01.csv", FIXTURES / "loans-2025-02.csv"]
LATER_DROP = FIXTURES / "later" / "loans-2025-03-01.csv"
CONTRACT = re.compile(r"write `audits/contracts/library__loans.py`:\n\n```python\n(?P<body>.*?)```", re.S)
STEP = re.compile(r"<!-- tutorial: (?P<what>[^>]+?) -->\n```\w+\n(?P<body>.*?)```", re.S)
MART = "library_monthly_loans"


def _steps() -> list[tuple[str, str]]:
    return [(m["what"], m["body"]) for m in STEP.finditer(TUTORIAL.read_text())]


def _project(tmp_path: Path) -> Settings:
    """A copy of the project with the tutorial's steps applied, on a data folder of its own."""
    project = tmp_path / "project"
    copy_project(project)
    for what, body in _steps():
        if what == "source":  # edited as text: config.yaml's SQLMesh part holds Jinja that a YAML round trip would re-quote
            config = (project / "config.yaml").read_text()
            (project / "config.yaml").write_text(config.replace("    sources:\n", "    sources:\n" + body, 1))
        elif what.startswith("write "):
            (project / what.removeprefix("write ")).write_text(body)
        elif what.startswith("append "):
            with open(project / what.removeprefix("append "), "a") as handle:
                handle.write(body)
        else:
            raise AssertionError(f"docs/tutorial.md: unknown step `{what}`")
    assert sorted(what for what, _ in _steps()) == [
        "append external_models.yaml",
        "source",
        "write models/marts/library_monthly_loans.sql",
        "write models/staging/stg_library__loans.sql",
    ]
    return load_settings(project, env={"PLATFORM__DATA_DIR": str(tmp_path / "data"), "PLATFORM__DEMO__SCALE": SMALL_SCALE})


def _job(settings: Settings, job_id: str) -> str:
    """One job alone, as `just test-job` runs it: a worker process, one attempt, no dependants."""
    return Runner(settings, job_specs(settings)).run(job_id, "manual", retries=False, cascade=False, alert=False)


def _logs(settings: Settings) -> str:
    return "\n".join(log.read_text()[-3000:] for log in (settings.data_dir / "logs" / "jobs").glob("*.log"))


def _expected(drops: list[Path]) -> list[tuple]:
    """The mart computed with pandas from the files: the latest drop of each loan, per branch and month."""
    loans = pd.concat([pd.read_csv(path, dtype={"returned_on": str}) for path in drops]).drop_duplicates("loan_id", keep="last")
    loans["loan_month"] = pd.to_datetime(loans["borrowed_on"]).dt.to_period("M").dt.start_time.dt.date
    per_month = loans.groupby(["branch", "loan_month"]).agg(
        count_loans=("loan_id", "size"), count_returned=("returned_on", "count"), amount_fees=("fee_eur", "sum")
    )
    return [
        (branch, month, int(row.count_loans), int(row.count_returned), int(row.count_loans - row.count_returned), round(row.amount_fees, 2))
        for (branch, month), row in per_month.sort_index().iterrows()
    ]


def _mart(settings: Settings) -> list[tuple]:
    con, _ = connect_published(settings)
    with contextlib.closing(con):
        return con.execute(
            f"SELECT branch, loan_month, count_loans, count_returned, count_open, amount_fees::DOUBLE FROM marts.{MART} ORDER BY 1, 2"
        ).fetchall()


@pytest.mark.slow
def test_the_tutorial_onboards_the_library_through_the_scheduler_s_jobs(tmp_path, monkeypatch):
    settings = _project(tmp_path)
    specs = job_specs(settings)
    assert specs["ingest:library"].schedule == "*/30 * * * *" and "ingest:library" in specs["transform"].after

    landing = settings.landing_path("library")
    landing.mkdir(parents=True)
    for drop in FIRST_DROPS:
        shutil.copy(drop, landing)
    assert run_cli("demo", data_dir=settings.data_dir).returncode == 0  # the demo shop that the same project builds
    for job in ("ingest:library", "ingest:shop", "transform", "publish"):
        assert _job(settings, job) == "success", _logs(settings)
    first = _mart(settings)
    assert first == _expected(FIRST_DROPS)
    assert sum(row[2] for row in first) == 300

    shutil.copy(LATER_DROP, landing)
    for job in ("ingest:library", "transform"):
        assert _job(settings, job) == "success", _logs(settings)
    later = _mart(settings)
    assert later == _expected([*FIRST_DROPS, LATER_DROP])
    changed = {row[:2]: row for row in later}.items() - {row[:2]: row for row in first}.items()
    assert {key for key, _ in changed} == {("Central", pd.Timestamp("2025-01-01").date()), ("Harbour", pd.Timestamp("2025-03-01").date())}

    at = app_on(settings.data_dir, monkeypatch, "browser", table=MART)
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert MART in next(box for box in at.selectbox if box.label == "Mart").options
    assert at.subheader[0].value == f"{len(later):,} matching rows"
    shown = at.dataframe[1].value
    assert list(zip(shown["Branch"], shown["Loans"], strict=True)) == [(row[0], row[2]) for row in later]
    assert list(at.dataframe[0].value["Column"]) == ["branch", "loan_month", "count_loans", "count_returned", "count_open", "amount_fees"]
    assert len(at.get("vega_lite_chart")) == 1 and "per month of `loan_month`" in " ".join(c.value for c in at.caption)
    assert download_labels(at) == [f"Download {MART.replace('_', ' ')} (CSV)"]


def test_the_tutorial_s_optional_contract_passes_the_drops_and_quarantines_a_bad_loan(tmp_path):
    """Step 3 is Python, so the onboarding above leaves it out; here it checks the same drops as ingestion does."""
    import pyarrow.csv as pacsv

    from ingest.contracts import ContractGuard

    module: dict = {}
    exec(CONTRACT.search(TUTORIAL.read_text())["body"], module)  # the page's own contract module
    guard = ContractGuard("library", {}, enabled=True, max_bad_share=0.01)
    guard.contracts = {"loans": module["schema"]}
    for drop in [*FIRST_DROPS, LATER_DROP]:
        loaded = guard.check("loans", pacsv.read_csv(drop))
        assert loaded.num_rows == len(pd.read_csv(drop))
        assert str(loaded.schema.field("borrowed_on").type) == "date32[day]"  # the DATE that external_models.yaml declares
    bad = tmp_path / "loans-bad.csv"
    bad.write_text(LATER_DROP.read_text().replace("Harbour", "Atlantis"))
    assert guard.check("loans", pacsv.read_csv(bad)).num_rows == 1
    assert guard.tallies["loans"].rows_quarantined == 1
