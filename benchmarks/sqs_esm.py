"""SQS → function, end to end: messages per second an SQS event source mapping drains through a
no-op python3.12 function.

Per repetition: with the mapping disabled, ``MESSAGES`` messages are sent (SendMessageBatch over
boto3, setup only); then the mapping is enabled and the clock runs until the queue reports no
message visible or in flight (GetQueueAttributes, polled every 50 ms). Two mappings are measured:
BatchSize 10 (the default) and BatchSize 100 with a 1 s batching window. The figure counts every
step AWS's poller takes: long-poll receive through the queue domain, the event's records, one
synchronous invoke per batch, and the batch delete.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.harness import NOOP, cpu_us, create_function, lamina_server

MESSAGES = 10_000
SETUPS = ({"BatchSize": 10}, {"BatchSize": 100, "MaximumBatchingWindowInSeconds": 1})


def _fill(sqs: Any, url: str) -> None:
    def batch(start: int) -> None:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f'{{"n": {start + i}}}'}
                                                      for i in range(10)])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(batch, range(0, MESSAGES, 10)))


def _left(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _state(client: Any, uuid: str, state: str) -> None:
    deadline = time.monotonic() + 30
    while client.get_event_source_mapping(UUID=uuid)["State"] != state:
        if time.monotonic() > deadline:
            raise TimeoutError(f"mapping {uuid} never became {state}")
        time.sleep(0.02)


def run(reps: int = 3) -> dict[str, Any]:
    print(f"sqs_esm: {MESSAGES} messages per repetition drained through a no-op python3.12 function, "
          f"{reps} reps per setup")
    results: dict[str, Any] = {"messages": MESSAGES}
    summary = []
    with lamina_server() as server:
        import boto3

        client = server.lambda_client()
        sqs = boto3.client("sqs", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="test",
                           aws_secret_access_key="test")
        create_function(client, "consumer", NOOP)
        assert server.process is not None
        for number, setup in enumerate(SETUPS):
            url = sqs.create_queue(QueueName=f"bench-{number}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            uuid = client.create_event_source_mapping(EventSourceArn=arn, FunctionName="consumer", Enabled=False,
                                                      **setup)["UUID"]
            _state(client, uuid, "Disabled")
            runs = []
            for _ in range(reps):
                _fill(sqs, url)
                before = cpu_us(server.process.pid)
                started = time.perf_counter()
                client.update_event_source_mapping(UUID=uuid, Enabled=True)
                while _left(sqs, url):
                    if time.perf_counter() - started > 300:
                        raise TimeoutError("the queue did not drain in 300 s")
                    time.sleep(0.05)
                took = time.perf_counter() - started
                after = cpu_us(server.process.pid)
                runs.append({"seconds": took, "messages_per_s": MESSAGES / took,
                             "server_cpu_us_per_message": (after[0] - before[0]) / MESSAGES,
                             "environments": server.environments()})
                client.update_event_source_mapping(UUID=uuid, Enabled=False)
                _state(client, uuid, "Disabled")
            label = ", ".join(f"{k}={v}" for k, v in setup.items())
            median = statistics.median(r["messages_per_s"] for r in runs)
            cpu = statistics.median(r["server_cpu_us_per_message"] for r in runs)
            each = ", ".join(f"{r['messages_per_s']:.0f}" for r in runs)
            print(f"  {label}: median {median:.0f} messages/s (reps {each}); server main thread {cpu:.0f} µs CPU "
                  f"per message; environments {runs[-1]['environments']}")
            results[label] = {"runs": runs, "messages_per_s": median, "server_cpu_us_per_message": cpu}
            summary.append({"metric": f"SQS -> function, {label}", "value": median, "unit": "msg/s",
                            "target": "-", "verdict": "-"})
    return {**results, "summary": summary}
