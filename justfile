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

# Create or update a virtual SQLMesh environment and show its plan, e.g. `just plan dev`
plan ENV:
    {{py}} -m transform.cli plan {{ENV}}

# Promote to prod what the environments built (failing audits block it); publish the marts
promote:
    {{py}} -m transform.cli promote

# Compare models between two environments, e.g. `just diff dev prod` (add --model marts.x)
diff A B *ARGS:
    {{py}} -m transform.cli diff {{A}} {{B}} {{ARGS}}

# List the SQLMesh environments; the janitor removes expired ones
envs:
    {{py}} -m transform.cli envs

# Start a local MinIO for the s3 lake (data under data/minio), or say how to get one
minio:
    {{py}} -m core.lake_cli minio

# Create the lake's buckets if missing; list them with object counts and sizes
minio-buckets:
    {{py}} -m core.lake_cli buckets

# Upload a small sample shop as CSV files to lake://raw/landing/
minio-upload-sample *ARGS:
    {{py}} -m core.lake_cli upload-sample {{ARGS}}

# Check the lake's buckets and layout; report what is missing and how to fix it
minio-verify:
    {{py}} -m core.lake_cli verify

# Print the MinIO console URL
minio-console:
    {{py}} -m core.lake_cli console
