"""What the app's pages show, as plain functions over DuckDB and SQLite: tested without Streamlit."""
