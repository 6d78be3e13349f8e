"""Metering and cost: a usage record per invocation, and what those would cost on AWS."""
