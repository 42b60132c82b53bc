# The platform's stages, one recipe each. `just` alone lists them.
# Every recipe runs in the project's uv environment (installed on first use).

py := "uv run --frozen python"

# List the recipes
default:
    @just --list --unsorted

# Run every stage end to end: demo source, ingest, transform + audits, publish
run:
    {{py}} -m core.cli run

# Advance the demo source by one simulated day (new orders, updates, soft deletes)
demo-day:
    {{py}} -m core.cli demo-day

# (Re)generate the demo source, e.g. `just demo --scale 10 --force`
demo *ARGS:
    {{py}} -m core.cli demo {{ARGS}}

# Run the test suite: pytest, SQLMesh unit tests, audits on the demo build
test *ARGS:
    {{py}} -m pytest {{ARGS}}

# Benchmark every stage against hand-written DuckDB, e.g. `just bench --scales 10,50 --repeats 3`
bench *ARGS:
    {{py}} -m bench {{ARGS}}

# The benchmark at a tiny scale (1,000 orders), once: checks that the harness still works
bench-smoke:
    {{py}} -m bench --scales 0.01 --repeats 1 --warmup 0
