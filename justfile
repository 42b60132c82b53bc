# The platform's stages, one recipe each. `just` alone lists them.
# Every recipe runs in the project's uv environment (installed on first use); `exec` hands
# the recipe's shell over to uv, so a SIGTERM or SIGINT that just forwards reaches Python.

py := "exec uv run --frozen python"

# SQLMesh loads models in forked workers; forking a process that runs threads (the
# scheduler, test servers) can kill a worker, so load serially unless told otherwise.
export MAX_FORK_WORKERS := env_var_or_default("MAX_FORK_WORKERS", "1")

# List the recipes
default:
    @just --list --unsorted

# Run every stage end to end: demo source, ingest, transform + audits, publish (`just run --gateway spark`: build on Spark)
run *args:
    {{py}} -m pipeline.cli run {{args}}

# Advance the demo source by one simulated day (new orders, updates, soft deletes)
demo-day:
    {{py}} -m pipeline.cli demo-day

# Check the lake, raw files, warehouse, published versions, run log and lock; repair what can be (`--check`: only look)
doctor *ARGS:
    {{py}} -m pipeline.cli doctor {{ARGS}}

# Read one source (or `source.table`) again whole from its source, then build and publish, e.g. `just reingest shop.orders`
reingest TARGET:
    {{py}} -m pipeline.cli reingest {{TARGET}}

# Erase one subject's personal data from every layer (raw, warehouse, published, reports), e.g. `just erase shop.customers 17`
# (a composite key names each column: `just erase erp.lines order_id=5 line=2`)
erase TARGET +KEY:
    {{py}} -m pipeline.cli erase {{TARGET}} {{KEY}}

# List the erasures recorded: when, which table and key, what was rewritten
erasures:
    {{py}} -m pipeline.cli erasures

# (Re)generate the demo source, e.g. `just demo --scale 10 --force`
demo *ARGS:
    {{py}} -m pipeline.cli demo {{ARGS}}

# Test files run on TEST_WORKERS processes (3 by default, 0 for one); a file's tests stay together.
# Run the test suite: pytest, SQLMesh unit tests, audits on the demo build (TEST_WORKERS=0: one process)
test *ARGS:
    uv run --frozen --extra spark python -m pytest -n {{env_var_or_default("TEST_WORKERS", "3")}} --dist loadfile {{ARGS}}

# The quality gate CI runs before the tests: ruff, mypy, the import layers, formatting (`ruff format .` fixes that), the licence gate
lint:
    uv run --frozen ruff check .
    uv run --frozen mypy
    uv run --frozen lint-imports
    uv run --frozen ruff format --check .
    uv run --frozen python -m linter.licences

# The development loop: the tests not marked slow (no end-to-end builds, servers or browsers), stopping at the first failure
test-fast *ARGS:
    {{py}} -m pytest -n {{env_var_or_default("TEST_WORKERS", "3")}} --dist loadfile -m "not slow" -x {{ARGS}}

# Quarantined rows with file, line and reason, e.g. `just quarantine drops --table orders --file orders/x.csv`
quarantine *ARGS:
    {{py}} -m ingest.cli quarantine {{ARGS}}

# Take a landed file of a file-drop source again once it (or its table's settings) is fixed, e.g. `just replay drops orders/x.csv`
replay SOURCE FILE:
    {{py}} -m ingest.cli replay {{SOURCE}} {{FILE}}

# Create or update a virtual SQLMesh environment and show its plan, e.g. `just plan dev`
plan ENV:
    {{py}} -m pipeline.env_cli plan {{ENV}}

# Promote to prod what the environments built (failing audits block it); publish the marts
promote:
    {{py}} -m pipeline.env_cli promote

# Compare models between two environments, e.g. `just diff dev prod` (add --model marts.x)
diff A B *ARGS:
    {{py}} -m pipeline.env_cli diff {{A}} {{B}} {{ARGS}}

# List the SQLMesh environments; the janitor removes expired ones
envs:
    {{py}} -m pipeline.env_cli envs

# Start a local MinIO for the s3 lake (data under data/minio), or say how to get one
minio:
    {{py}} -m pipeline.lake_cli minio

# Create the lake's buckets if missing; list them with object counts and sizes
minio-buckets:
    {{py}} -m pipeline.lake_cli buckets

# Upload a small sample shop as CSV files to lake://raw/landing/
minio-upload-sample *ARGS:
    {{py}} -m pipeline.lake_cli upload-sample {{ARGS}}

# Check the lake's buckets and layout; report what is missing and how to fix it
minio-verify:
    {{py}} -m pipeline.lake_cli verify

# Print the MinIO console URL
minio-console:
    {{py}} -m pipeline.lake_cli console

# --- Operations: the scheduler service and friends (scheduler/cli.py) ---

# Create .env from .env.example and the data folders (idempotent)
setup:
    {{py}} -m scheduler.cli setup

# Start the services in the background: scheduler, Streamlit app (if present), MinIO (if on PATH)
start:
    {{py}} -m scheduler.cli start

# Stop the background services (a running job gets its grace period)
stop:
    {{py}} -m scheduler.cli stop

# Stop, then start the background services
restart:
    {{py}} -m scheduler.cli restart

# Run the scheduler in the foreground, logging to the terminal (Ctrl-C stops it gracefully)
serve:
    {{py}} -m scheduler.cli serve

# Services, last run per job with status and age, next runs, open alerts
status:
    {{py}} -m scheduler.cli status

# The schedule: every job, its trigger, retries, timeout and next run
jobs:
    {{py}} -m scheduler.cli jobs

# Run a job now, the way the scheduler does (retries, alerts, then its dependants)
trigger JOB:
    {{py}} -m scheduler.cli trigger {{JOB}}

# Pause a job (the running scheduler sees it within jobs.poll_seconds)
pause JOB:
    {{py}} -m scheduler.cli pause {{JOB}}

# Resume a paused job
resume JOB:
    {{py}} -m scheduler.cli resume {{JOB}}

# Follow the structured log (`just logs --no-follow -n 100` to print and exit)
logs *ARGS:
    {{py}} -m scheduler.cli logs {{ARGS}}

# Recent job runs, of every job or of one: `just history transform`
history *JOB:
    {{py}} -m scheduler.cli history {{JOB}}

# Sources, storage and alert channels with a live reachability check (secrets masked)
connections:
    {{py}} -m scheduler.cli connections

# Run one job alone, once, without dependants or alerts, and show its output
test-job JOB:
    {{py}} -m scheduler.cli test-job {{JOB}}

# Make the running scheduler re-read config.yaml
reload:
    {{py}} -m scheduler.cli reload

# Wipe run history, alerts and scheduler state, after confirmation (dev only; --yes to skip the question)
reset *ARGS:
    {{py}} -m scheduler.cli reset {{ARGS}}

# Stop the services and delete the generated data, after confirmation (--yes to skip the question)
clean *ARGS:
    {{py}} -m scheduler.cli clean {{ARGS}}

# Serve the Streamlit app (dashboards and operator views) on app.port, 8501 by default
app *ARGS:
    {{py}} -m app.cli serve {{ARGS}}

# Print a password hash for an app user (put it in APP_PASSWORD_HASH_<USER>)
app-password:
    {{py}} -m app.cli hash-password

# Build the Evidence reports over the published marts into app/reports/build (npm ci from the lockfile)
reports:
    {{py}} -m app.reports.cli build

# Serve the Evidence reports with live reload, e.g. `just reports-dev --port 3001`
reports-dev *ARGS:
    {{py}} -m app.reports.cli dev {{ARGS}}

# Regenerate the reports' metric sources (app/reports/sources/metrics/) from metrics/definitions.yml
reports-sources:
    {{py}} -m app.reports.cli sources

# Check every report query against a fresh snapshot of the published marts (no Node needed)
reports-check:
    {{py}} -m app.reports.cli check

# Serve the read-only data API over the published marts on api.port, 8600 by default (docs at /docs)
api *ARGS:
    {{py}} -m api.cli serve {{ARGS}}

# Serve the MCP server for agents over stdio (key in DUCKSTACK_API_KEY), or `just mcp --http` on 127.0.0.1:8700/mcp
mcp *ARGS:
    {{py}} -m mcp_server.cli {{ARGS}}

# Make an API key and print it with its hash (put the hash in API_KEY_HASH_<NAME>), e.g. `just api-key reporting`
api-key NAME:
    {{py}} -m api.cli new-key {{NAME}}

# List the business metrics, or query them: `just metrics query revenue --by month --where customer_city=Berlin`
metrics *ARGS:
    {{py}} -m metrics.cli {{ARGS}}

# Benchmark every stage against hand-written DuckDB, e.g. `just bench --scales 10,50 --repeats 3`
bench *ARGS:
    {{py}} -m bench {{ARGS}}

# The benchmark at a tiny scale (1,000 orders; 2,000 rows in the files scenario), once: checks that the harness still works
bench-smoke:
    {{py}} -m bench --scales 0.01 --rows 2000 --repeats 1 --warmup 0
