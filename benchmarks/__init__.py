"""Lamina's benchmarks: ``python -m benchmarks`` (``make bench``) runs them all.

Each benchmark module starts its own ``lamina serve`` on a free loopback port with a fresh data
directory, sets functions up through the real Lambda API, measures, stops the server, prints medians
and ratios against the targets of issue 3, and returns a JSON-able dict that ``__main__`` writes
under ``benchmarks/results/``.

Method (shared/research/performance.md, Part B): every figure is the median over at least three
repetitions of a per-repetition p50 / p99; the load client is a raw keep-alive socket or wrk, never
an HTTP library whose own cost would dominate (httpx measures 450-880 µs per request on this box).
"""
