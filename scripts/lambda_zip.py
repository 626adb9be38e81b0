"""The rotation Lambda's zip, reproducibly: `python scripts/lambda_zip.py OUT FILE...` (what `make lambda` runs).

Contract: OUT is rewritten with exactly FILE... (paths as given, relative to the current directory),
each a Unix regular file of mode 0644 dated 1980-01-01, deflated, in the order given, so the same
files always give the same bytes. Lambda runs the code as a non-root user that must be able to read
it (Lambda guide, "Deployment package file permissions"), and a bare ZipInfo stores 0600. It prints
`wrote OUT (N files)` and then `RotationCodeKey=short-cut-rotation-<sha256 of the zip>.zip`, the
stack's content-addressed key: CloudFormation redeploys a function's code only when its S3 key
changes. Exit 2 with one line on stderr when a file is missing. Standard library only (the hash is
Python's: macOS has no sha256sum).
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold
REGULAR_0644 = 0o100644 << 16
UNIX = 3  # create_system: the mode in external_attr is a Unix one
KEY_PREFIX = "short-cut-rotation-"


def build(out: Path, files: Sequence[str]) -> str:
    """Write the zip; return its RotationCodeKey."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in files:
            info = zipfile.ZipInfo(name, EPOCH)
            info.external_attr = REGULAR_0644
            info.create_system = UNIX
            archive.writestr(info, Path(name).read_bytes(), zipfile.ZIP_DEFLATED)
    return f"{KEY_PREFIX}{hashlib.sha256(out.read_bytes()).hexdigest()}.zip"


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2:
        print("usage: python scripts/lambda_zip.py OUT FILE...", file=sys.stderr)
        return 2
    out, files = Path(argv[0]), list(argv[1:])
    missing = [name for name in files if not Path(name).is_file()]
    if missing:
        print(f"lambda: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    key = build(out, files)
    print(f"wrote {out} ({len(files)} files)")
    print(f"RotationCodeKey={key}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
