"""AWS access: the Secrets Manager client, its error mapping, the botocore session and the task's metadata.

Owns: client (SecretsClient, build_client, DescribeSecret/GetSecretValue, the timeouts), errors
(AWS error codes -> ErrorCode, one mapping per service), botocore_session (a session that loads
only one service's data), task_metadata (the ECS task ARN from the metadata endpoint).

May import: src.errors, the standard library, botocore/boto3. The rotation Lambda's zip ships
client, errors and botocore_session, so nothing here may import pydantic, FastAPI or the service's
config. This file imports nothing (importing src.aws must not import botocore).
"""
