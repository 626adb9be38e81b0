"""The peer: a FastAPI app whose lifespan builds a `BaseSettings` from pydantic-settings'
own `AWSSecretsManagerSettingsSource`, for the same secret short-cut loads.

This is what a team gets without short-cut: boto3 imported in the lifespan, one
GetSecretValue, the JSON validated into typed fields, /health 200 once that is done.
The secret id comes from SECRET_NAME and the endpoint from boto3's own
AWS_ENDPOINT_URL_SECRETS_MANAGER, exactly as for short-cut.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI
from pydantic import Field, SecretStr
from pydantic_settings import (
    AWSSecretsManagerSettingsSource,
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


class PeerSettings(BaseSettings):
    """The same keys short-cut validates, typed the same way."""

    model_config = SettingsConfigDict(extra="ignore")

    openai_api_key: SecretStr
    pinecone_api_key: SecretStr
    gcp_project_id: str
    app_secret_key: SecretStr
    milvus_host: str
    milvus_port: int = Field(ge=1, le=65535)
    # The service account is a JSON object inside the secret, already parsed by the source:
    # NoDecode stops pydantic-settings from json-decoding it a second time.
    google_application_credentials_json: Annotated[dict[str, Any] | None, NoDecode] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The secret's keys are upper case, the fields lower case: match case-insensitively.
        # botocore reads AWS_DEFAULT_REGION only; the task sets AWS_REGION, as short-cut reads it.
        aws = AWSSecretsManagerSettingsSource(
            settings_cls,
            os.environ["SECRET_NAME"],
            region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
            case_sensitive=False,
        )
        return (init_settings, env_settings, aws)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.settings = PeerSettings()
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
