"""moto_server with SQS's message retention as AWS applies it: `python -m tests.support.moto_sqs -H ... -p ...`.

AWS deletes a message once it is older than the queue's MessageRetentionPeriod ("the length
of time, in seconds, for which Amazon SQS retains a message", 60 s to 14 days:
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html).
moto 5.2 keeps an expired message and, on ReceiveMessage, stops at the first expired one it
meets (`is_message_valid_based_on_retention_period` ... `break`), so every later message is
never delivered and a long poll spins until its wait ends. The event source's fan-out relies
on the 60 s retention, and a benchmark of ten rotations outlives it: this launcher hides
expired messages from receives, as AWS would have deleted them, and is otherwise moto_server.
"""

from __future__ import annotations

import sys
from typing import Any


def patch() -> None:
    from moto.core.utils import unix_time
    from moto.sqs.models import Queue

    visible = Queue.messages.fget  # type: ignore[attr-defined]

    def retained(self: Any) -> list[Any]:
        period = float(getattr(self, "message_retention_period", 345600))
        cutoff = (unix_time() - period) * 1000
        return [m for m in visible(self) if m.sent_timestamp is None or m.sent_timestamp > cutoff]

    Queue.messages = property(retained)  # type: ignore[method-assign,assignment]


def main() -> None:
    from tests.support import moto_aws

    moto_aws.patch()
    patch()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
