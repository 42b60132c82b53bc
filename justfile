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

# Serve the Streamlit app (dashboards and operator views) on app.port, 8501 by default
app *ARGS:
    {{py}} -m app.cli serve {{ARGS}}

# Print a password hash for an app user (put it in APP_PASSWORD_HASH_<USER>)
app-password:
    {{py}} -m app.cli hash-password
