"""`make lambda` builds a zip that imports on its own, with the handler AWS is told about."""

from __future__ import annotations

import hashlib
import subprocess
import zipfile
from pathlib import Path

from tests.support.processes import BIN, ROOT

NO_THIRD_PARTY = (
    "import importlib.abc, sys\n"
    "class NoThirdParty(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        top = name.partition('.')[0]\n"
    "        if top != 'src' and top not in sys.stdlib_module_names:\n"
    "            raise ImportError(f'third-party import at load time: {name}')\n"
    "        return None\n"
    "sys.meta_path.insert(0, NoThirdParty())\n"
)


def run_from_zip(code: str, archive: Path, cwd: Path) -> str:
    """`code`, run isolated (-I) with the zip as argv[1]; its stdout, stripped."""
    result = subprocess.run(
        [str(BIN / "python"), "-I", "-c", code, str(archive)], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_make_lambda_builds_an_importable_zip(tmp_path: Path) -> None:
    result = subprocess.run(
        ["make", "-s", "lambda"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    archive = ROOT / "build/short-cut-rotation.zip"
    names = set(zipfile.ZipFile(archive).namelist())
    assert "src/rotation/lambda_function.py" in names
    assert not any(n.startswith(("src/main", "src/config", "src/cli", "tests/")) for n in names)
    # Every package the zip holds has its __init__ (src/secret/, src/aws/, ...): without it the import would
    # fall back to a namespace package and skip the package's own module.
    packages = {n.rsplit("/", 1)[0] for n in names if n.endswith(".py")}
    assert {f"{p}/__init__.py" for p in packages} <= names, sorted(packages)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from src.rotation.lambda_function import lambda_handler, STEPS; "
        "import src.rotation.lambda_function as m; assert m.__file__.startswith(sys.argv[1]), m.__file__; "
        "print(sorted(STEPS))"
    )
    # -I: isolated, so the repository's own src/ is not on the path; boto3 comes from the venv as in Lambda's runtime.
    # Importing the handler must need nothing but the standard library and the zip: botocore is imported
    # only when a client is built, and type stubs (mypy_boto3_*) only under TYPE_CHECKING. The guard
    # refuses every other top-level import, so a stub import at run time, or a module missing from
    # LAMBDA_FILES, fails here.
    probe = NO_THIRD_PARTY + probe
    assert run_from_zip(probe, archive, tmp_path) == "['createSecret', 'finishSecret', 'setSecret', 'testSecret']"
    # The client itself is built from the zip too (botocore from the venv, as the runtime's):
    # a module build_client imports late, missing from LAMBDA_FILES, fails here.
    client_probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); from src.aws.client import build_client; "
        "import src.aws.botocore_session as b; assert b.__file__.startswith(sys.argv[1]), b.__file__; "
        "print(build_client('us-east-1').meta.service_model.service_name)"
    )
    assert run_from_zip(client_probe, archive, tmp_path) == "secretsmanager"
    template = (ROOT / "infra/cloudformation/short-cut.yaml").read_text()
    assert "Handler: src.rotation.lambda_function.lambda_handler" in template


def test_make_lambda_stores_every_file_world_readable() -> None:
    """Lambda runs the code as a non-root user, so every file must be readable by others (0644):
    a bare ZipInfo stores mode 0600. Lambda Developer Guide, "Deploying Lambda functions",
    Deployment package file permissions: "Lambda needs 644 permissions for non-executable files
    (rw-r--r--)" (https://docs.aws.amazon.com/lambda/latest/dg/lambda-deploy-functions.html; also
    re:Post knowledge-center/lambda-deployment-package-errors). The key line is the zip's sha256,
    computed without sha256sum (macOS has none)."""
    result = subprocess.run(
        ["make", "-s", "lambda"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    archive = ROOT / "build/short-cut-rotation.zip"
    with zipfile.ZipFile(archive) as z:
        modes = {i.filename: (i.create_system, i.external_attr >> 16) for i in z.infolist()}
    assert modes and all(m == (3, 0o100644) for m in modes.values()), {n: (s, oct(m)) for n, (s, m) in modes.items()}
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert f"RotationCodeKey=short-cut-rotation-{digest}.zip" in result.stdout.splitlines()


def test_make_lambda_prints_what_it_wrote_and_not_its_recipe() -> None:
    """`make lambda` without -s: two short lines (what it wrote, the key), not the recipe with its
    file list (issue 32: it used to echo a 600-character python -c one-liner)."""
    result = subprocess.run(["make", "lambda"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if not line.startswith("make")]
    assert len(lines) == 2 and all(len(line) < 120 for line in lines), result.stdout
    assert lines[0].startswith("wrote build/short-cut-rotation.zip (")
    assert lines[1].startswith("RotationCodeKey=short-cut-rotation-")


def test_the_zip_is_reproducible_and_a_missing_file_writes_no_key(tmp_path: Path) -> None:
    """Same files, same bytes (the key is the content's hash); a missing file is one line and exit 2,
    with no RotationCodeKey line a reader could copy."""
    files = ["src/__init__.py", "src/errors.py"]
    keys = []
    for name in ("a.zip", "b.zip"):
        done = subprocess.run(
            [str(BIN / "python"), "scripts/lambda_zip.py", str(tmp_path / name), *files],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        keys.append(done.stdout.splitlines()[-1])
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    digest = hashlib.sha256((tmp_path / "a.zip").read_bytes()).hexdigest()
    assert keys == [f"RotationCodeKey=short-cut-rotation-{digest}.zip"] * 2
    done = subprocess.run(
        [str(BIN / "python"), "scripts/lambda_zip.py", str(tmp_path / "c.zip"), "src/__init__.py", "src/nothing.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "RotationCodeKey" not in done.stdout
    assert done.stderr == "lambda: no such file: src/nothing.py\n"
    assert not (tmp_path / "c.zip").exists()
