"""src/app_env.py: the five environments, the secret naming convention, and where the region comes from.

Region names as AWS writes them: https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html
(`us-east-1`, `ap-southeast-2`, `us-gov-west-1`, `cn-north-1`, ...). botocore itself reads only
AWS_DEFAULT_REGION (the region setting of
https://docs.aws.amazon.com/sdkref/latest/guide/feature-region.html lists AWS_REGION for the SDKs
in general), which is why the service reads AWS_REGION first and falls back.
"""

from __future__ import annotations

import pytest

from src.app_env import (
    DEFAULT_REGION,
    PROJECT,
    REGION_PATTERN,
    REGION_VARIABLES,
    SHORT_NAMES,
    AppEnv,
    default_secret_name,
    region_from,
    secret_name,
    secret_names,
)


def test_the_five_environments_and_which_are_cloud() -> None:
    assert [env.value for env in AppEnv] == ["local", "development", "test", "staging", "production"]
    assert {env for env in AppEnv if env.is_cloud} == {AppEnv.STAGING, AppEnv.PRODUCTION}


def test_app_env_parses_the_values_entrypoint_sh_allows_and_nothing_else() -> None:
    assert AppEnv("production") is AppEnv.PRODUCTION
    for wrong in ("prod", "Production", "PRODUCTION", " staging", ""):
        with pytest.raises(ValueError):
            AppEnv(wrong)


def test_short_names_are_the_values_except_production_is_prod() -> None:
    assert {env: env.short_name for env in AppEnv} == {
        AppEnv.LOCAL: "local",
        AppEnv.DEVELOPMENT: "development",
        AppEnv.TEST: "test",
        AppEnv.STAGING: "staging",
        AppEnv.PRODUCTION: "prod",
    }
    # The CLI's --env takes short names: each maps back to its environment, one to one.
    assert {
        "local": AppEnv.LOCAL,
        "development": AppEnv.DEVELOPMENT,
        "test": AppEnv.TEST,
        "staging": AppEnv.STAGING,
        "prod": AppEnv.PRODUCTION,
    } == SHORT_NAMES


def test_secret_names_follow_project_environment_kind() -> None:
    assert PROJECT == "short-cut"
    assert secret_name("prod") == "short-cut/prod/app"
    assert secret_name("staging", "extra") == "short-cut/staging/extra"
    assert default_secret_name(AppEnv.PRODUCTION) == "short-cut/prod/app"
    assert default_secret_name(AppEnv.STAGING) == "short-cut/staging/app"
    assert default_secret_name(AppEnv.LOCAL) == "short-cut/local/app"


@pytest.mark.parametrize(
    ("explicit", "env", "expected"),
    [
        # Unset or blank: the default name in the cloud, nothing elsewhere (local mode reads .env).
        (None, AppEnv.PRODUCTION, ("short-cut/prod/app",)),
        ("", AppEnv.STAGING, ("short-cut/staging/app",)),
        ("  ", AppEnv.PRODUCTION, ("short-cut/prod/app",)),
        (None, AppEnv.LOCAL, ()),
        (None, AppEnv.DEVELOPMENT, ()),
        (None, AppEnv.TEST, ()),
        # Set: used as given in every environment, comma-separated, trimmed, in order (later wins).
        ("my/secret", AppEnv.LOCAL, ("my/secret",)),
        ("a, b ,c", AppEnv.PRODUCTION, ("a", "b", "c")),
        ("b,a", AppEnv.STAGING, ("b", "a")),
        (" a ,, ,b, ", AppEnv.TEST, ("a", "b")),
    ],
)
def test_secret_names_from_secret_name(explicit: str | None, env: AppEnv, expected: tuple[str, ...]) -> None:
    assert secret_names(explicit, env) == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-2"}, "eu-west-1"),
        ({"AWS_DEFAULT_REGION": "us-east-2"}, "us-east-2"),
        # An empty AWS_REGION (a task definition with the value left blank) counts as unset.
        ({"AWS_REGION": "", "AWS_DEFAULT_REGION": "us-east-2"}, "us-east-2"),
        ({"AWS_REGION": "ap-south-1"}, "ap-south-1"),
        ({"AWS_REGION": "", "AWS_DEFAULT_REGION": ""}, None),
        ({}, None),
        ({"REGION": "eu-west-1", "AWS_DEFAULT_REGION_X": "eu-west-1"}, None),
    ],
)
def test_region_from_reads_aws_region_then_aws_default_region(environ: dict[str, str], expected: str | None) -> None:
    assert REGION_VARIABLES == ("AWS_REGION", "AWS_DEFAULT_REGION")
    assert region_from(environ) == expected


@pytest.mark.parametrize(
    "region",
    [
        "us-east-1",
        "eu-west-2",
        "ap-southeast-2",
        "ap-northeast-3",
        "ca-west-1",
        "eu-south-2",
        "il-central-1",
        "me-central-1",
        "us-gov-west-1",
        "cn-north-1",
        DEFAULT_REGION,
    ],
)
def test_region_pattern_accepts_aws_region_names(region: str) -> None:
    assert REGION_PATTERN.match(region)
    assert REGION_PATTERN.fullmatch(region)


@pytest.mark.parametrize(
    "region",
    [
        "",
        "us-east",
        "useast1",
        "US-EAST-1",
        "us-east-1a",  # an availability zone, not a region
        "u-east-1",
        "us_east_1",
        "us-east-1 ",
        " us-east-1",
        "us-east-1;rm",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
        "https://secretsmanager.us-east-1.amazonaws.com",
    ],
)
def test_region_pattern_refuses_what_is_not_a_region_name(region: str) -> None:
    assert REGION_PATTERN.match(region) is None
