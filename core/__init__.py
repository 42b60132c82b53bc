"""What every stage shares: settings, lake paths, the warehouse, the writer lock and the run log."""
