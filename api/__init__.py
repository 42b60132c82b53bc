"""The read-only data API over the published marts (`just api`): see docs/api.md."""
