"""Return requests handled as after-sales tasks."""
