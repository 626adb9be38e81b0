"""Whether the files `make image` would build from are exactly the commit's: one rule, .dockerignore's.

`python3 tools/image_tree.py` prints `clean`, or `dirty` and the first differing paths. The Makefile
tags an image `<commit>` only on `clean`, and anything else (this script failing or missing
included) adds `-dirty`, which push-image refuses.

The build context is what .dockerignore lets through, matched as Docker matches it
(moby/patternmatcher: `*` and `?` within one path segment, `**` across segments, a pattern
matching a path or any of its parents, `!` re-including, the last matching pattern deciding).
So no second filter can disagree with it: `src/evil__pycache__/payload.py` ships and counts,
`src/x/__pycache__/y.pyc` does not ship and does not count. Plus the Dockerfile and .dockerignore
themselves, which decide what is built.

Each file is compared with the commit by its bytes and its executable bit: the blob id is
computed here from the file, never taken from git's index, so `git update-index
--assume-unchanged` or `--skip-worktree` cannot hide a change, and no git filter (eol) stands
between the bytes that would ship and the bytes committed. Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

ALWAYS = ("Dockerfile", ".dockerignore")
SHOWN = 5


def _regex(pattern: str) -> re.Pattern[str]:
    """patternmatcher's translation of one cleaned pattern."""
    out, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*" and pattern[i + 1 : i + 2] == "*":
            i += 2
            if pattern[i : i + 1] == "/":
                i += 1
            out += ".*" if i >= len(pattern) else "(.*/)?"
            continue
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(ch)
        i += 1
    return re.compile(out + "$")


def read_patterns(text: str) -> list[tuple[bool, re.Pattern[str], str]]:
    """(re-include, regex, literal prefix) per pattern, in order."""
    patterns = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        line = line[1:].strip() if include else line
        cleaned = os.path.normpath(line).replace(os.sep, "/")
        if len(cleaned) > 1 and cleaned.startswith("/"):
            cleaned = cleaned[1:]
        prefix = re.split(r"[*?\[\\]", cleaned, maxsplit=1)[0]
        patterns.append((include, _regex(cleaned), prefix))
    return patterns


def shipped(path: str, patterns: list[tuple[bool, re.Pattern[str], str]]) -> bool:
    """Whether the build context holds `path` (relative, with /)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for include, regex, _ in patterns:
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not include
    return not excluded


def context_files(root: Path, patterns: list[tuple[bool, re.Pattern[str], str]]) -> set[str]:
    found: set[str] = set()
    re_includes = [prefix for include, _, prefix in patterns if include]
    for folder, dirs, files in os.walk(root):
        relative = Path(folder).relative_to(root).as_posix()
        base = "" if relative == "." else relative + "/"
        kept = []
        for name in dirs:
            path = base + name
            if path == ".git":
                continue
            # An excluded folder is walked only if a `!` pattern could re-include something in it.
            if shipped(path, patterns) or any(
                p.startswith(path + "/") or (path + "/").startswith(p) for p in re_includes
            ):
                kept.append(name)
        dirs[:] = kept
        found.update(base + name for name in files if shipped(base + name, patterns))
    return found


def _git(root: Path, *args: str) -> bytes:
    command = ["git", "-C", str(root), *args]
    return subprocess.run(command, capture_output=True, check=True).stdout  # noqa: S603 - fixed arguments, no shell


def committed(root: Path) -> tuple[dict[str, tuple[str, str]], str]:
    """path -> (mode, blob id) of HEAD's files, and the repository's hash algorithm."""
    listing: dict[str, tuple[str, str]] = {}
    for entry in _git(root, "ls-tree", "-r", "-z", "--full-tree", "HEAD").split(b"\0"):
        if entry:
            meta, _, path = entry.partition(b"\t")
            mode, _kind, blob = meta.decode().split()
            listing[path.decode("utf-8", "surrogateescape")] = (mode, blob)
    algorithm = _git(root, "rev-parse", "--show-object-format").decode().strip() or "sha1"
    return listing, algorithm


def on_disk(path: Path, algorithm: str) -> tuple[str, str]:
    """(mode, blob id) as git would record the file now."""
    if path.is_symlink():
        data, mode = os.readlink(path).encode("utf-8", "surrogateescape"), "120000"
    else:
        data = path.read_bytes()
        mode = "100755" if os.access(path, os.X_OK) else "100644"
    digest = hashlib.new(algorithm, b"blob %d\0" % len(data) + data).hexdigest()
    return mode, digest


def differences(root: Path) -> list[str]:
    ignore = root / ".dockerignore"
    patterns = read_patterns(ignore.read_text(encoding="utf-8") if ignore.is_file() else "")
    head, algorithm = committed(root)
    wanted = {p for p in head if shipped(p, patterns)} | {p for p in ALWAYS if p in head}
    present = context_files(root, patterns) | {p for p in ALWAYS if (root / p).exists()}
    found = [f"not in the commit: {p}" for p in sorted(present - wanted)]
    found += [f"missing: {p}" for p in sorted(wanted - present)]
    found += [f"changed: {p}" for p in sorted(present & wanted) if on_disk(root / p, algorithm) != head[p]]
    return found


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    try:
        found = differences(root)
    except (OSError, subprocess.CalledProcessError, ValueError) as exc:
        print(f"dirty (cannot compare with the commit: {type(exc).__name__})")
        return 0
    if not found:
        print("clean")
    else:
        more = f" (and {len(found) - SHOWN} more)" if len(found) > SHOWN else ""
        print("dirty: " + "; ".join(found[:SHOWN]) + more)
    return 0


if __name__ == "__main__":
    sys.exit(main())
