"""Run one side of a comparison in its own fresh process and measure it; alternate sides; take medians.

Every measured side is a child process, started from the small `bench.measure`
process so that its peak RSS (from `os.wait4`) is its own. A side run through `bench.worker` also reports the seconds of its
work alone (imports and settings excluded) and what it produced.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import PlatformError

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Sample:
    """One measured run of one side."""

    side: str
    seconds: float
    process_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    extra: dict = field(default_factory=dict)


def run_process(argv: list[str], *, env: dict[str, str], log: Path) -> tuple[float, float, float]:
    """Run `argv` to completion through `bench.measure`; return its wall seconds, CPU seconds and peak RSS in MB.

    Raise with the log's tail on failure. CPU seconds (user + system) stay meaningful on a busy machine.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    figures_path = log.with_name(f"{log.stem}-{time.time_ns()}.measure.json")
    with log.open("ab") as out:
        done = subprocess.run(
            [sys.executable, "-m", "bench.measure", str(figures_path), *argv], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise PlatformError(f"Benchmark step `{' '.join(argv[2:])}` failed (exit {done.returncode}); end of {log}:\n{tail}")
    figures = json.loads(figures_path.read_text())
    return figures["wall"], figures["cpu"], figures["peak_rss_mb"]


class Workspace:
    """Folders of one scale (or of `folder`) under `<data_dir>/bench/`: the reused source, and fresh run folders."""

    def __init__(
        self,
        bench_dir: Path,
        project: Path,
        scale: float,
        source_name: str,
        base_env: dict[str, str],
        *,
        profile: bool = False,
        folder: Path | None = None,
    ) -> None:
        self.bench_dir = bench_dir
        self.project = project  # the folder holding config.yaml, for every child process
        self.profile = profile
        self.scale = scale
        self.source_name = source_name
        self.dir = folder or bench_dir / "work" / f"scale-{scale:g}"
        self.base_env = base_env
        self.logs = self.dir / "logs"

    @property
    def source(self) -> Path:
        return self.bench_dir / "sources" / f"{self.source_name}-scale-{self.scale:g}.db"

    def fresh(self, name: str) -> Path:
        path = self.dir / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def env(self, data_dir: Path, *, source: Path | None = None, lake_root: Path | None = None) -> dict[str, str]:
        """The environment of a child run on `data_dir`, reading `source` (default: the shared one)."""
        env = dict(self.base_env)
        env["PLATFORM__DATA_DIR"] = str(data_dir)
        env["PLATFORM__DEMO__SCALE"] = f"{self.scale:g}"
        env[f"PLATFORM__SOURCES__{self.source_name.upper()}__PATH"] = str(source or self.source)
        if lake_root is not None:
            env["PLATFORM__LAKE__ROOT"] = str(lake_root)
        return env

    def run_side(self, side: str, env: dict[str, str], params: dict | None = None) -> Sample:
        """Run a `bench.worker` side in a fresh process."""
        stamp = f"{side}-{time.time_ns()}"
        params_path, result_path = self.logs / f"{stamp}.params.json", self.logs / f"{stamp}.result.json"
        self.logs.mkdir(parents=True, exist_ok=True)
        if self.profile:
            params = {**(params or {}), "profile": str(self.logs / f"{stamp}.profile.txt")}
        params_path.write_text(json.dumps(params or {}))
        argv = [sys.executable, "-m", "bench.worker", side, str(params_path), str(result_path), str(self.project)]
        wall, cpu, rss = run_process(argv, env=env, log=self.logs / f"{side}.log")
        result = json.loads(result_path.read_text())
        return self._record(
            Sample(side=side, seconds=result["seconds"], process_seconds=wall, cpu_seconds=cpu, peak_rss_mb=rss, extra=result["extra"])
        )

    def run_cli(self, label: str, args: list[str], env: dict[str, str]) -> Sample:
        """Run the platform's own command line in a fresh process; the whole process is the work."""
        argv = [sys.executable, "-m", "pipeline.cli", "--project", str(self.project), *args]
        wall, cpu, rss = run_process(argv, env=env, log=self.logs / f"{label}.log")
        return self._record(Sample(side=label, seconds=wall, process_seconds=wall, cpu_seconds=cpu, peak_rss_mb=rss))

    def _record(self, sample: Sample) -> Sample:
        """Append every sample to `logs/samples.jsonl` as it comes, so an interrupted run still leaves its figures."""
        with (self.logs / "samples.jsonl").open("a") as out:
            out.write(json.dumps(asdict(sample)) + "\n")
        return sample


def alternate(sides: dict[str, Callable[[], Sample | dict[str, Sample]]], *, warmup: int, repeats: int) -> dict[str, list[Sample]]:
    """Run the sides in turn, round after round, reversing the order each round; drop the warm-up rounds.

    A side may return several named samples (e.g. a cold run and the warm run after it).
    """
    samples: dict[str, list[Sample]] = {}
    order = list(sides)
    for round_no in range(warmup + repeats):
        for name in order if round_no % 2 == 0 else reversed(order):
            result = sides[name]()
            if round_no >= warmup:
                for key, sample in result.items() if isinstance(result, dict) else [(name, result)]:
                    samples.setdefault(key, []).append(sample)
    return samples


def summarize(samples: list[Sample]) -> dict:
    """Medians of a side's samples, with every sample kept for the record."""
    return {
        "seconds": statistics.median(s.seconds for s in samples),
        "process_seconds": statistics.median(s.process_seconds for s in samples),
        "cpu_seconds": statistics.median(s.cpu_seconds for s in samples),
        "peak_rss_mb": statistics.median(s.peak_rss_mb for s in samples),
        "runs": len(samples),
        "extra": samples[-1].extra,
        "samples": [asdict(s) | {"extra": None} for s in samples],
    }


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(q) - 1]
