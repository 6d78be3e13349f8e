"""Lamina: a self-hosted serverless platform that speaks AWS Lambda's language."""

__version__ = "0.1.0"
