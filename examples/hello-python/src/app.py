"""A hello-world function: greets whoever the event names."""

import os


def handler(event, context):
    name = (event or {}).get("name", "world")
    print(f"saying hello to {name}")
    return {"message": f"Hello, {name}!", "function": context.function_name,
            "region": os.environ["AWS_REGION"], "requestId": context.aws_request_id}
