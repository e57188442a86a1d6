"""A moto server (AWS KMS + STS emulator) on 127.0.0.1, reached over real HTTP by boto3 and sops."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Dummy credentials: moto accepts any, and they keep both boto3 and sops away from real AWS.
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


class RequestCounter(logging.Handler):
    """Counts the requests the moto server logs (its werkzeug access log), by AWS operation target."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "POST /" in record.getMessage():
            self.count += 1


REQUESTS = RequestCounter()


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto on a free loopback port; yields its endpoint URL and stops it afterwards.

    Its access log goes to :data:`REQUESTS` (which counts it) instead of stderr."""
    from moto.server import ThreadedMotoServer

    log = logging.getLogger("werkzeug")
    log.setLevel(logging.INFO)
    log.propagate = False
    if REQUESTS not in log.handlers:
        log.addHandler(REQUESTS)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def kms_client(endpoint: str, region: str) -> Any:
    import boto3

    return boto3.client(
        "kms",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=DUMMY_AWS_ENV["AWS_SESSION_TOKEN"],
    )


def create_key(endpoint: str, region: str = "us-east-1") -> str:
    """A new symmetric KMS key in ``region``; returns its ARN."""
    return str(kms_client(endpoint, region).create_key(Description="sopsy test")["KeyMetadata"]["Arn"])


def sops_env(endpoint: str) -> dict[str, str]:
    """Environment for the real sops binary: talk to moto, never to AWS, no version check."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(DUMMY_AWS_ENV)
    env["AWS_ENDPOINT_URL"] = endpoint
    env["SOPS_DISABLE_VERSION_CHECK"] = "1"
    return env
