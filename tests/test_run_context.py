"""One run, one lake: `just run` opens its lake's filesystem once and passes it down to every stage."""

from __future__ import annotations

import functools

from core.lake import Lake
from demo.day import advance_day
from pipeline.run import run_all


def test_a_run_that_loads_builds_and_publishes_opens_the_lake_once(built_copy, monkeypatch):
    settings = built_copy
    opened: list[Lake] = []
    filesystem = Lake.fs.func

    def counted(lake: Lake):
        opened.append(lake)
        return filesystem(lake)

    fs = functools.cached_property(counted)
    fs.__set_name__(Lake, "fs")
    monkeypatch.setattr(Lake, "fs", fs)
    advance_day(settings.source_path("shop"), seed=settings.demo.seed)

    summary = run_all(settings)

    assert summary.rows_loaded["shop"] and summary.published_version and summary.publish_reason  # every stage did its work
    assert len(opened) == 1, f"the lake's filesystem was opened {len(opened)} times in one run"
