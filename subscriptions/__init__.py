"""Subscription lifecycle: states, schedule, renewals, dunning, history."""
