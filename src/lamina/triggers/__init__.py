"""Triggers: what turns outside events (HTTP requests, queue messages, schedules) into invocations.

Each only calls the invoker's two entry points, synchronous (``Invoker.invoke``) and asynchronous
(:meth:`lamina.invoker.events.AsyncInvoker.enqueue`). :mod:`.filters` is AWS's event filter
pattern language (FilterCriteria); :mod:`.esm` holds the event source mappings (SQS queues).
"""
