"""HTTP triggers: function URLs and HTTP APIs (API Gateway v2), as API Gateway delivers requests.

- ``edge``: which requests are for a trigger (host and path forms) and :class:`edge.Gateway`.
- ``function_urls`` / ``http_api``: ``handle(request) -> response`` for each kind.
- ``events`` (payload 1.0 and 2.0), ``responses`` (result → HTTP), ``routes`` (route keys,
  matching), ``cors``: pure functions, tested without sockets.
- ``model`` (definitions as immutable values), ``registry`` (in-memory tables written through to
  :mod:`lamina.store.gateway`), ``invoke`` (the only way a trigger reaches the invoker).
"""
