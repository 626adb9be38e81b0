"""The log mask and the two formats."""

from __future__ import annotations

import io
import json
import logging

import pytest

from src.logs import MASK, SecretMasker, configure_logging, masker
from tests.support.canary import CANARY_VALUES, SERVICE_ACCOUNT, leaked


def capture(mask: SecretMasker, fmt: logging.Formatter | None = None) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(mask)
    if fmt:
        handler.setFormatter(fmt)
    logger = logging.getLogger(f"test.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_masker_hides_values_in_message_args_extras_and_tracebacks() -> None:
    mask = SecretMasker()
    mask.register([*CANARY_VALUES.values(), json.dumps(SERVICE_ACCOUNT)])
    logger, stream = capture(mask)
    key = CANARY_VALUES["OPENAI_API_KEY"]
    logger.info("direct %s", key)
    logger.info(f"inline {CANARY_VALUES['APP_SECRET_KEY']}")
    logger.info("extra", extra={"detail": f"x{CANARY_VALUES['MILVUS_HOST']}x"})
    logger.info("pem line %s", SERVICE_ACCOUNT["private_key"].splitlines()[1])
    try:
        raise ValueError(f"boom {key}")
    except ValueError:
        logger.exception("failed")
    text = stream.getvalue()
    assert leaked(text) == []
    assert text.count(MASK) == 4
    assert "extra" in text


def test_masked_extra_field_never_reaches_a_formatter() -> None:
    mask = SecretMasker()
    mask.register([CANARY_VALUES["MILVUS_HOST"]])
    logger, stream = capture(mask, logging.Formatter("%(message)s %(detail)s"))
    logger.info("extra", extra={"detail": f"x{CANARY_VALUES['MILVUS_HOST']}x"})
    assert stream.getvalue().strip() == f"extra x{MASK}x"


def test_short_values_are_not_masked() -> None:
    mask = SecretMasker()
    mask.register(["1", "yes"])
    assert mask.mask("1 yes") == "1 yes"


def test_json_lines_format(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json_lines=True, level="INFO")
    logging.getLogger("short_cut.test").info("hello %s", "world", extra={"key_count": 7})
    line = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["message"] == "hello world"
    assert record["level"] == "INFO" and record["key_count"] == 7 and "time" in record
    assert masker in logging.getLogger().handlers[0].filters


def test_text_format(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json_lines=False, level="debug")
    logging.getLogger("short_cut.test").debug("plain")
    out = capsys.readouterr().out
    assert "DEBUG" in out and "plain" in out and not out.startswith("{")


def test_botocore_debug_output_is_held_back_even_at_debug_level() -> None:
    configure_logging(json_lines=False, level="DEBUG")
    assert not logging.getLogger("botocore.parsers").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("short_cut.secrets").isEnabledFor(logging.DEBUG)
