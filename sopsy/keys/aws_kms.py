"""AWS KMS master keys through boto3, with sops-compatible ``kms`` entries.

The region comes from the key ARN, a ``role`` is assumed through STS (session ``sops@<host>``,
as sops names it), ``aws_profile`` picks a shared-config profile, and otherwise boto3's standard
credential chain applies. ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_KMS`` / ``AWS_ENDPOINT_URL_STS``
point the clients elsewhere (a local KMS, or moto in the tests), as they do for sops.

boto3 costs ~200 ms to import, so it is imported only when a KMS key is actually used.
"""

from __future__ import annotations

import base64
import os
import re
import socket
from typing import Any

from ..errors import EncryptionContextError, KeyUnavailable, SopsyError, UsageError
from ..metadata import KeyEntry
from . import KeySpec, created_at, enc_bytes

# Same patterns as sops (kms/keysource.go), so the same ARNs are accepted and rejected.
ARN_RE = re.compile(r"^arn:aws[\w-]*:kms:(.+):[0-9]+:(key|alias)/.+$")
# Go's class keeps "@-_" as a *range* (0x40-0x5F), so "-" is stripped; copied as-is on purpose.
_STS_SESSION_STRIP = re.compile(r"[^a-zA-Z0-9=,.@-_]+")
_ROLE_SESSION_NAME_LIMIT = 64
_ROLE_MARK = "+arn:aws:iam::"


def parse_encryption_context(text: str) -> dict[str, str]:
    """``k:v,k2:v2`` → dict, exactly as sops parses ``--encryption-context`` (a value may not hold ':')."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for pair in text.split(","):
        parts = pair.split(":")
        if len(parts) != 2:
            raise EncryptionContextError("invalid KMS encryption context format: expected key:value,key:value")
        out[parts[0]] = parts[1]
    return out


def parse_kms_arg(text: str, context: dict[str, str] | None = None, profile: str = "") -> list[KeySpec]:
    """``ARN[+ROLE_ARN],...`` (from ``--kms`` or ``SOPS_KMS_ARN``) → key specs."""
    specs: list[KeySpec] = []
    if not text:
        return specs
    for item in text.split(","):
        item = item.replace(" ", "")  # sops strips every space, not only the outer ones
        if not item:
            continue
        arn, role = item, ""
        i = item.find(_ROLE_MARK)
        if i > 0:
            arn, role = item[:i], item[i + 1:]
        if not ARN_RE.match(arn):
            raise UsageError(f"not a valid AWS KMS key ARN: {arn[:120]}")
        specs.append(make_spec(arn, role, context or {}, profile))
    return specs


def parse_arg(text: str, options: dict[str, Any]) -> list[KeySpec]:
    """``--kms`` / ``SOPS_KMS_ARN``, with ``--encryption-context`` and ``--aws-profile`` applied."""
    return parse_kms_arg(text, options.get("encryption_context") or {}, options.get("aws_profile") or "")


def make_spec(arn: str, role: str = "", context: dict[str, str] | None = None, profile: str = "") -> KeySpec:
    return KeySpec("kms", arn, {"role": role, "context": dict(context or {}), "aws_profile": profile})


def session_name(hostname: str | None = None) -> str:
    """The STS session name sops uses: ``sops@<sanitised hostname>``, at most 64 characters."""
    name = "sops@" + _STS_SESSION_STRIP.sub("", socket.gethostname() if hostname is None else hostname)
    return name[:_ROLE_SESSION_NAME_LIMIT]


def _context_of(value: Any) -> dict[str, str] | None:
    """The encryption context stored in an entry; None when sops would ignore it (non-string values)."""
    if not value:
        return {}
    if not isinstance(value, dict):
        return None
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            return None
        out[k] = v
    return out


def _endpoint(service: str) -> str | None:
    # boto3 ≥ 1.28.57 reads these itself; passing them explicitly keeps older boto3 working too.
    return os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or os.environ.get("AWS_ENDPOINT_URL") or None


def _describe(exc: BaseException) -> str:
    """A one-line reason from a boto3/botocore error (their messages never contain the plaintext)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error") or {}
        code = err.get("Code") or type(exc).__name__
        msg = err.get("Message") or ""
        return f"{code}: {msg}".strip().rstrip(":") if msg else str(code)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]


class AwsKmsProvider:
    type_name = "kms"

    def __init__(self) -> None:
        # KMS clients by (region, profile, role, endpoints): building one loads the service model
        # (~50 ms), and a role would otherwise be assumed again for every entry.
        self._clients: dict[tuple[str, ...], Any] = {}

    def _client(self, arn: str, role: str, profile: str) -> Any:
        m = ARN_RE.match(arn)
        if not m:
            raise KeyUnavailable(f"no valid ARN found in {arn[:120]!r}")
        region = m.group(1)
        kms_ep, sts_ep = _endpoint("kms"), _endpoint("sts")
        cache_key = (region, profile, role, kms_ep or "", sts_ep or "", _credential_env_marker())
        client = self._clients.get(cache_key)
        if client is not None:
            return client
        import boto3
        import botocore.exceptions

        try:
            session = boto3.Session(profile_name=profile or None, region_name=region)
            if role:
                sts = session.client("sts", region_name=region, endpoint_url=sts_ep)
                creds = sts.assume_role(RoleArn=role, RoleSessionName=session_name())["Credentials"]
                session = boto3.Session(
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                    region_name=region,
                )
            client = session.client("kms", region_name=region, endpoint_url=kms_ep)
        except botocore.exceptions.ProfileNotFound:
            raise KeyUnavailable(f"AWS profile {profile!r} not found") from None
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            what = f"failed to assume role {role}" if role else "could not set up the AWS client"
            raise KeyUnavailable(f"{what}: {_describe(exc)}") from None
        self._clients[cache_key] = client
        return client

    def _call(self, arn: str, role: str, profile: str, op: str, **kwargs: Any) -> dict[str, Any]:
        import botocore.exceptions

        client = self._client(arn, role, profile)
        try:
            result: dict[str, Any] = getattr(client, op)(**kwargs)
        except botocore.exceptions.NoCredentialsError:
            raise KeyUnavailable("no AWS credentials found (environment, shared files, SSO or instance role)") from None
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise KeyUnavailable(f"AWS KMS {op} failed: {_describe(exc)}") from None
        return result

    def wrap(self, spec: KeySpec, payload: bytes) -> KeyEntry:
        role = str(spec.options.get("role") or "")
        profile = str(spec.options.get("aws_profile") or "")
        context = {str(k): str(v) for k, v in (spec.options.get("context") or {}).items()}
        if not ARN_RE.match(spec.id):
            raise UsageError(f"not a valid AWS KMS key ARN: {spec.id[:120]}")
        try:
            out = self._call(spec.id, role, profile, "encrypt", KeyId=spec.id, Plaintext=payload,
                             EncryptionContext=context)
        except KeyUnavailable as exc:
            # On encrypt there is no other key to fall back on: this ends the command.
            raise SopsyError(f"could not encrypt the data key with {spec.id}: {exc}") from None
        fields: dict[str, Any] = {"arn": spec.id}
        if role:
            fields["role"] = role
        if context:
            # sops's emitters (go-yaml, encoding/json) write map keys sorted
            fields["context"] = {k: context[k] for k in sorted(context)}
        fields["created_at"] = created_at()
        fields["enc"] = base64.b64encode(out["CiphertextBlob"]).decode()
        fields["aws_profile"] = profile
        return KeyEntry("kms", fields)

    def unwrap(self, entry: KeyEntry) -> bytes:
        arn = str(entry.fields.get("arn") or "")
        role = str(entry.fields.get("role") or "")
        profile = str(entry.fields.get("aws_profile") or "")
        context = _context_of(entry.fields.get("context"))
        if context is None:
            # sops drops a context with non-string values, so KMS would refuse it there too
            context = {}
        blob = enc_bytes(entry)
        out = self._call(arn, role, profile, "decrypt", KeyId=arn, CiphertextBlob=blob, EncryptionContext=context)
        return bytes(out["Plaintext"])

    def legacy_entries(self, entry: KeyEntry, version: str) -> list[KeyEntry]:
        """sops before 3.3.0 encrypted with a context in which every key held one and the same of
        its values (a Go loop-variable bug, getsops/sops#435): the variants sops 3.3+ tries when
        the stored context fails, one per distinct value. Empty for any other entry."""
        import re

        m = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
        if not m or tuple(int(g) for g in m.groups()) >= (3, 3, 0):
            return []
        context = _context_of(entry.fields.get("context")) or {}
        values = sorted(set(context.values()))
        if len(context) < 2 or len(values) < 2:
            return []
        return [KeyEntry(entry.type, {**entry.fields, "context": {k: v for k in context}}) for v in values]

    def spec_of(self, entry: KeyEntry) -> KeySpec:
        f = entry.fields
        return make_spec(str(f.get("arn") or ""), str(f.get("role") or ""), _context_of(f.get("context")) or {},
                         str(f.get("aws_profile") or ""))


def _credential_env_marker() -> str:
    """Which environment credentials are in force, so a cached client never outlives them."""
    names = ("AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CONFIG_FILE",
             "AWS_SHARED_CREDENTIALS_FILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")
    return "\0".join(os.environ.get(n, "") for n in names)


PROVIDER = AwsKmsProvider()
