"""Triggers: what turns outside events (HTTP requests, queue messages, schedules) into invocations."""
