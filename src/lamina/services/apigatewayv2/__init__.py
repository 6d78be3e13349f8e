"""The ``apigatewayv2`` service (HTTP APIs): definitions in, :mod:`lamina.triggers.gateway` serves them."""
