"""The scheduler service: jobs from config.yaml, run with retries, timeouts, alerts and monitoring."""
