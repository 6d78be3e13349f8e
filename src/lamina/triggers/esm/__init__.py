"""Event source mappings: a poller per mapping reads its source, batches records, invokes the
function synchronously and settles the records by the outcome.

- :mod:`.model`: the mapping, its state machine and the rules its settings must follow.
- :mod:`.manager`: create / read / update / delete, persistence, starting and stopping pollers.
- :mod:`.sqs`: the SQS poller and AWS's SQS event shape.
"""
