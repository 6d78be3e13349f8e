"""Local mode: ``lamina local invoke`` and ``lamina local start-api`` run a template without a server.

Each command starts an ephemeral platform in its own process (:mod:`.platform`: a
:class:`~lamina.app.Platform` with a temporary data directory, served on a free loopback port),
deploys the template into it with the deploy engine (:mod:`.stack`), then invokes one function or
serves the template's HTTP APIs at ``http://HOST:PORT/<path>`` (:mod:`.api`). With ``--watch`` a
change to the template or to any code folder it names is redeployed before the next request.
When the command ends nothing is left behind: no process, no temporary folder.
"""
