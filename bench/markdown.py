"""The benchmark result as Markdown (one table per scale, the targets, memory scaling, the machine), written beside its JSON."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report import ORDERS_PER_SCALE, memory_scaling, scenario_label, targets
from bench.sides_scheduler import scheduler_row


def render(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"# Benchmark {result['started_at']}",
        "",
        f"Machine: {m['cores']} cores, {m['memory_gb']} GiB, {m['cpu']}, {m['os']}, Python {m['python']}; "
        f"load average {result['load_before']} before, {result['load_after']} after. Commit {m['commit']}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        f"Each figure is the median of {result['options']['repeats']} run(s) after {result['options']['warmup']} warm-up "
        "round(s); the sides of a comparison alternate within each round, each in its own fresh process. Seconds are "
        "the work alone (imports excluded); `process` is the whole process; RSS is the process's peak.",
    ]
    if max(result["load_before"][0], result["load_after"][0]) > m["cores"]:
        lines.append("**The machine was busy (load above its core count): compare CPU seconds and ratios, not wall seconds.**")
    lines.append("")
    for key, scale in result["scales"].items():
        lines += _scale_table(key, scale)
    if scenario := result.get("scenario"):
        lines += _scenario_table(scenario)
    rows = targets(result)
    if rows:
        lines += ["## Targets", "", "| scale | target | measured | |", "|---|---|---|---|"]
        lines += [f"| {r['scale']} | {r['target']} | {r['shown']} | {'met' if r['met'] else '**not met**'} |" for r in rows]
        lines.append("")
    scaling = memory_scaling(result)
    if scaling:
        lines += [
            "## Memory scaling (platform side, peak RSS)",
            "",
            "| stage | scales | small | large | rows grew | RSS ~ rows^k |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['stage']} | {r['scales']} | {r['small_mb']:.0f} MB | {r['large_mb']:.0f} MB "
            f"| {r['rows_growth']:.1f}x | k = {r['exponent']:.2f} |"
            for r in scaling
        ]
        lines.append("")
    return "\n".join(lines)


def write(result: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write `bench-<time>.json` and `.md`, and the same as `latest.json` and `latest.md`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = result["started_at"].replace(":", "").replace("-", "")
    text, document = render(result), json.dumps(result, indent=2, default=str)
    for name in (f"bench-{stamp}", "latest"):
        (out_dir / f"{name}.json").write_text(document)
        (out_dir / f"{name}.md").write_text(text)
    return out_dir / f"bench-{stamp}.json", out_dir / f"bench-{stamp}.md"


def _s(node: dict) -> str:
    return f"{node['seconds']:.2f} s (process {node['process_seconds']:.1f} s, CPU {node['cpu_seconds']:.1f} s)"


def _speedup(factor: float) -> str:
    return f"{factor:.2f}x faster" if factor >= 1 else f"{1 / factor:.2f}x slower"


def _mb(node: dict | None) -> str:
    return f"{node['peak_rss_mb']:.0f} MB" if node else ""


def _scale_table(key: str, scale: dict) -> list[str]:
    rows = sum(scale["source_rows"].values())
    out = [
        f"## Scale {key}: {float(key) * ORDERS_PER_SCALE:,.0f} orders, {rows:,} source rows",
        "",
        "| stage | platform | DuckDB by hand | ratio | platform RSS | DuckDB RSS | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    stages = scale["stages"]
    if ingest := stages.get("ingest"):
        p, d, pd = (ingest["sides"][n] for n in ("platform", "duckdb", "pandas"))
        out.append(
            f"| ingest: dlt vs sqlite_scan COPY | {_s(p)}, {p['rows_per_second']:,} rows/s | {_s(d)}, {d['rows_per_second']:,} rows/s "
            f"| {ingest['ratio_vs_duckdb']:.2f}x | {_mb(p)} | {_mb(d)} | platform {_files(p)}; DuckDB {_files(d)} |"
        )
        out.append(
            f"| ingest: dlt vs naive pandas | {_s(p)} | pandas {_s(pd)}, {pd['rows_per_second']:,} rows/s "
            f"| {_speedup(ingest['speedup_vs_pandas'])} | {_mb(p)} | pandas {_mb(pd)} | pandas {_files(pd)} |"
        )
    for key, drops in (("files", "CSV drops"), ("small_files", "small CSV drops, keys interleaved")):
        if (files := stages.get(key)) is None:
            continue
        p, d = files["sides"]["platform"], files["sides"]["duckdb"]
        out.append(
            f"| files: {files['rows']:,} rows in {files['drop_files']:,} {drops} vs DuckDB read_csv -> Parquet "
            f"| {_s(p)}, {p['rows_per_second']:,} rows/s | {_s(d)}, {d['rows_per_second']:,} rows/s "
            f"| CPU {files['cpu_ratio_vs_duckdb']:.2f}x | {_mb(p)} | {_mb(d)} | the work's CPU: platform {p['work_cpu_seconds']:.1f} s, "
            f"DuckDB {d['work_cpu_seconds']:.1f} s (whole processes: {files['process_cpu_ratio_vs_duckdb']:.2f}x); "
            f"platform {_files(p)}; DuckDB {_files(d)} |"
        )
    if scheduler := stages.get("scheduler"):
        out.append(scheduler_row(scheduler))
    if transform := stages.get("transform"):
        sq, d = transform["sides"]["sqlmesh"], transform["sides"]["duckdb"]
        out.append(
            f"| transform: SQLMesh full build vs CREATE TABLE AS | {_s(sq)} | {_s(d)} | {transform['ratio_vs_duckdb']:.2f}x "
            f"| {_mb(sq)} | {_mb(d)} | {sq['extra']['models_built']} models, {sq['extra']['audits_passed']} audits "
            f"and the unit tests on the platform side{_budget(transform)} |"
        )
        nc, inc, ing = transform["no_change_plan"], transform["incremental_day"], transform["incremental_day_ingest"]
        hand = transform["incremental_day_by_hand"]
        out.append(f"| transform: no-change plan | {_s(nc)} | | | {_mb(nc)} | | |")
        out.append(
            f"| transform: one day after demo-day vs that day's SQL | {_s(inc)} | {_s(hand)} "
            f"| {transform['incremental_ratio_vs_duckdb']:.2f}x "
            f"| {_mb(inc)} | {_mb(hand)} | the platform's day is {transform['incremental_share_of_full'] * 100:.0f}% of its full build; "
            f"by hand, the {len(hand['extra']['rows'])} models that day evaluated, over its range, as CREATE TABLE AS with no audits: "
            f"{transform['by_hand_share_of_full'] * 100:.0f}% of the hand-run full build; "
            f"ingesting that day took {_s(ing)}{_daily_detail(inc['extra'])} |"
        )
    if publish := stages.get("publish"):
        p, d = publish["sides"]["platform"], publish["sides"]["duckdb"]
        out.append(
            f"| publish marts vs plain COPY | {_s(p)} | {_s(d)} | {publish['ratio_vs_duckdb']:.2f}x | {_mb(p)} | {_mb(d)} "
            "| versioned files + manifest switch, every mart written |"
        )
        if unchanged := publish.get("unchanged"):
            out.append(f"| publish marts again, nothing changed | {_s(unchanged)} | | | {_mb(unchanged)} | | names the files it has |")
    if serve := stages.get("serve"):
        for mode in ("cold", "cached"):
            node = serve[mode]
            slowest = max(node["queries"], key=lambda n: node["queries"][n]["p95_ms"])
            out.append(
                f"| serve: dashboard queries, {mode} | p50 {node['p50_ms']:.0f} ms, p95 {node['p95_ms']:.0f} ms | | | {_mb(node)} | "
                f"| {len(node['queries'])} queries, {node['samples']} samples; slowest p95: {slowest} |"
            )
        what = {
            "mart_read": "`GET /marts/fct_orders/rows`, two filters, {rows} rows as JSON",
            "metric_query": "`GET /metrics/revenue?grain=day`, the last 30 days, {rows} rows as JSON",
        }
        for request, node in serve.get("api", {}).items():
            for mode in ("cold", "cached"):
                out.append(
                    f"| serve: API {request.replace('_', ' ')}, {mode} "
                    f"| p50 {node[mode]['p50_ms']:.0f} ms, p95 {node[mode]['p95_ms']:.0f} ms | | | | "
                    f"| {what[request].format(rows=node['rows'])} over loopback HTTP; {node[mode]['samples']} samples |"
                )
    if e2e := stages.get("end_to_end"):
        sides, d = e2e["sides"], e2e["sides"]["duckdb"]
        out.append(
            f"| end to end: `just run` cold | {sides['cold']['seconds']:.1f} s | {d['process_seconds']:.1f} s (whole process) "
            f"| {e2e['cold_ratio_vs_duckdb']:.2f}x | {_mb(sides['cold'])} | {_mb(d)} | by hand: no state, audits, tests, lock or manifest |"
        )
        warm = "published a new version" if e2e.get("warm_published_new") else "published nothing new"
        out.append(
            f"| end to end: `just run` warm | {sides['warm']['seconds']:.1f} s | | | {_mb(sides['warm'])} | | nothing new to load; {warm} |"
        )
        share = f"{e2e['after_day_share_of_cold'] * 100:.0f}% of `just run` cold" if "after_day_share_of_cold" in e2e else ""
        out.append(
            f"| end to end: `just run` after demo-day | {sides['after_day']['seconds']:.1f} s | | | {_mb(sides['after_day'])} | | {share} |"
        )
    out.append("")
    return out


def _scenario_table(scenario: dict) -> list[str]:
    full, change = scenario["sides"]["full"], scenario["sides"]["change"]
    staging = {"full": "FULL (every run reads every load)", "incremental": "incremental by key (`@unmerged_keys`)"}[scenario["staging"]]
    out = [
        f"## Files scenario ({scenario_label(scenario)}): {scenario['trips']:,} trips and {scenario['shifts']:,} vehicle shifts "
        f"in {scenario['drop_files']} CSV drops",
        "",
        f"A generated project (`bench/scenario_project.py`): a files source, staging models {staging}, three FULL marts. "
        "The platform side is `just run` (its whole process; per stage: wall, CPU, peak RSS). DuckDB by hand, one pass, "
        "reads every file, keeps each key's latest version, leaves the deleted out, computes the marts and writes them to "
        "Parquet; after the change it recomputes everything from all the files. DuckDB by hand with the same layers keeps "
        "what the platform keeps: each round's files copied to a raw Parquet file, staging tables built from raw and then "
        "merged by key from the new raw file only, the marts computed from staging, staging and the marts written to Parquet.",
        "",
        "| run | platform (`just run`) | DuckDB by hand, one pass | ratio | DuckDB by hand, same layers | ratio "
        "| platform RSS | DuckDB RSS (one pass; layers) | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    changed = "; ".join(
        f"{table}: {keys['updated']:,} updated, {keys['deleted']:,} deleted, {keys['new']:,} new"
        for table, keys in scenario["changed_keys"].items()
    )
    layered = f"same layers by hand: {scenario['layers_full_ratio_vs_duckdb']:.2f}x the one pass"
    for name, sides, ratios, note in (
        (
            "full build",
            full,
            (scenario["full_ratio_vs_duckdb"], scenario["full_ratio_vs_layers"]),
            f"CPU {scenario['full_cpu_ratio_vs_duckdb']:.2f}x DuckDB's one pass; {layered}",
        ),
        (
            "1% change, as new files",
            change,
            (scenario["change_ratio_vs_duckdb"], scenario["change_ratio_vs_layers"]),
            f"{scenario['change_share_of_full'] * 100:.0f}% of the full build "
            f"(DuckDB one pass: {scenario['duckdb_change_share_of_full'] * 100:.0f}%; "
            f"same layers: {scenario['layers_change_share_of_full'] * 100:.0f}%); {changed}",
        ),
    ):
        p, d, layers = sides["platform"], sides["duckdb"], sides["layers"]
        out.append(
            f"| {name} | {_process(p)} | {_process(d)} | {ratios[0]:.2f}x | {_process(layers)} | {ratios[1]:.2f}x "
            f"| {_mb(p)} | {_mb(d)}; {_mb(layers)} | {_stage_figures(p)}; {note} |"
        )
    answers = ", ".join(
        f"{mart} {check['published_rows']:,} rows {'equal' if check['equal'] else '**different**'}"
        for mart, check in scenario["checks"].get("change", scenario["checks"]["full"]).items()
    )
    out += [
        "",
        f"Published marts against both DuckDB sides': {'equal' if scenario['answers_equal'] else '**different**'} "
        f"({answers}, after the change).",
        "",
    ]
    return out


def _process(node: dict) -> str:
    return f"{node['process_seconds']:.1f} s (CPU {node['cpu_seconds']:.1f} s)"


def _stage_figures(side: dict) -> str:
    """Each stage's figures, then the rest of the process (start-up, imports, settings, the lock)."""
    stages = side["stages"]
    rest = side["process_seconds"] - sum(node["seconds"] for node in stages.values())
    return "; ".join(
        [
            *(
                f"{stage} {node['seconds']:.1f} s (CPU {node['cpu_seconds']:.1f} s"
                + (f", {node['peak_rss_mb']:.0f} MB)" if node["peak_rss_mb"] is not None else ")")
                for stage, node in stages.items()
            ),
            f"start-up and the rest {rest:.1f} s",
        ]
    )


def _files(side: dict) -> str:
    extra = side["extra"]
    return (
        f"{extra['files']} files, {extra['rows_per_row_group']:,} rows/row group, "
        f"smallest non-final group {extra.get('smallest_full_row_group') or 0:,}"
    )


def _daily_detail(extra: dict) -> str:
    """Where the one-day run went: the restated range and its slowest models (the last run's)."""
    detail = ""
    if extra.get("restated_from"):
        detail += f"; restated from {extra['restated_from'][:10]} (the oldest order the day changed)"
    if slowest := extra.get("slowest_models"):
        detail += "; slowest: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slowest.items())
    return detail


def _budget(transform: dict) -> str:
    """The DuckDB settings that both transform sides ran with (config.yaml's `connector_config`)."""
    shared = transform.get("duckdb_settings") or {}
    return "; both sides with " + ", ".join(f"{k} {v}" for k, v in shared.items()) if shared else ""
