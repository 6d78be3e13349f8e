"""Lamina: a self-hosted serverless platform that speaks AWS Lambda's language."""

from lamina import native

__version__ = "0.1.0"

# Before any module of the invoke path is imported: compiled where up to date, else from source.
native.guard()
