"""The secret's rules: what a payload may hold and how it is read, and the status of what was loaded.

Owns: payload (the one door: parse_secret, required keys), keys (key names, forbidden keys, the
allow-list), values (value types, placeholders, the service-account shape, which values are
credentials), json_object (reading the JSON, its size and nesting bounds), status (SecretStatus and
its two views).

May import: src.errors and the standard library only. The service, the CLI and the rotation Lambda
all use it; the Lambda's zip ships it (Makefile LAMBDA_FILES), so nothing here may pull in botocore,
pydantic or FastAPI. This file imports nothing.
"""
