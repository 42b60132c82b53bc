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

# Build the Evidence reports over the published marts into app/reports/build (npm ci from the lockfile)
reports:
    {{py}} -m app.reports.cli build

# Serve the Evidence reports with live reload, e.g. `just reports-dev --port 3001`
reports-dev *ARGS:
    {{py}} -m app.reports.cli dev {{ARGS}}

# Check every report query against a fresh snapshot of the published marts (no Node needed)
reports-check:
    {{py}} -m app.reports.cli check
