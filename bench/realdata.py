"""Real data for tests and benchmarks: two releases of a PyPI package and the diff between them.

``python bench/realdata.py fetch`` downloads the source distributions of Pygments 2.16.1 and
2.17.2 with ``pip download --no-binary :all:`` into ``.cache/realdata/``, unpacks them as
``old/`` and ``new/`` and writes ``release.diff`` (``git diff --no-index --binary
--full-index``: about 1 MB touching about 180 files). For the secret detector's
false-positive test it also unpacks the ``tests/`` folder of the requests 2.32.3 sdist into
``secrets-corpus/requests-tests/``. Each part is skipped when it is already there. Set
``AGENTOS_REALDATA=skip`` to skip the download (the tests that need it are then skipped with
that reason).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "pygments"
OLD_VERSION = "2.16.1"
NEW_VERSION = "2.17.2"
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "realdata"
OLD_DIR = CACHE / "old"
NEW_DIR = CACHE / "new"
DIFF_FILE = CACHE / "release.diff"
STRIP = 2  # "a/old/<path>" -> "<path>"
SECRETS_PACKAGE = "requests"
SECRETS_VERSION = "2.32.3"
SECRETS_CORPUS = CACHE / "secrets-corpus"
REQUESTS_TESTS = SECRETS_CORPUS / "requests-tests"


def ready() -> bool:
    """True when the unpacked releases and their diff are in the cache."""
    return OLD_DIR.is_dir() and NEW_DIR.is_dir() and DIFF_FILE.is_file()


def secrets_corpus_ready() -> bool:
    """True when the requests test files are in the cache."""
    return REQUESTS_TESTS.is_dir()


def _download(version: str, into: Path, package: str = PACKAGE) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-binary",
            ":all:",
            "--no-deps",
            "--dest",
            str(into),
            f"{package}=={version}",
        ],
        check=True,
    )
    for path in into.iterdir():
        if path.name.lower().startswith(f"{package}-{version}") and path.name.endswith(".tar.gz"):
            return path
    raise SystemExit(f"realdata: pip did not leave a {package}-{version} sdist in {into}")


def _unpack(archive: Path, target: Path, member: str = "") -> None:
    """Unpack ``archive``'s top folder (or its ``member`` subfolder) as ``target``."""
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch, tarfile.open(archive) as tar:
        tar.extractall(scratch, filter="data")
        (top,) = list(Path(scratch).iterdir())
        # The rename is the last step, so an interrupted fetch leaves no half-filled target.
        target.parent.mkdir(parents=True, exist_ok=True)
        (top / member if member else top).rename(target)


def fetch() -> int:
    """Download what is not cached yet: the two releases and their diff, the requests tests."""
    if ready() and secrets_corpus_ready():
        return 0
    if os.environ.get("AGENTOS_REALDATA") == "skip":
        print("realdata: skipped (AGENTOS_REALDATA=skip)")
        return 0
    CACHE.mkdir(parents=True, exist_ok=True)
    if not ready():
        _fetch_releases()
    if not secrets_corpus_ready():
        with tempfile.TemporaryDirectory(dir=CACHE) as downloads:
            archive = _download(SECRETS_VERSION, Path(downloads), SECRETS_PACKAGE)
            _unpack(archive, REQUESTS_TESTS, member="tests")
        files = sum(1 for path in REQUESTS_TESTS.rglob("*") if path.is_file())
        print(f"realdata: {SECRETS_PACKAGE} {SECRETS_VERSION} tests: {files} files")
    return 0


def _fetch_releases() -> None:
    for directory in (OLD_DIR, NEW_DIR):
        shutil.rmtree(directory, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as downloads:
        _unpack(_download(OLD_VERSION, Path(downloads)), OLD_DIR)
        _unpack(_download(NEW_VERSION, Path(downloads)), NEW_DIR)
    diff = subprocess.run(
        ["git", "diff", "--no-index", "--binary", "--full-index", "old", "new"],
        cwd=CACHE,
        capture_output=True,
        check=False,
    )
    if diff.returncode not in (0, 1):
        raise SystemExit(f"realdata: git diff failed: {diff.stderr.decode(errors='replace')}")
    DIFF_FILE.write_bytes(diff.stdout)
    size = len(diff.stdout)
    files = diff.stdout.count(b"\ndiff --git ") + diff.stdout.startswith(b"diff --git ")
    print(f"realdata: {PACKAGE} {OLD_VERSION} -> {NEW_VERSION}: {size} bytes, {files} files")


if __name__ == "__main__":
    if sys.argv[1:] != ["fetch"]:
        raise SystemExit("usage: python bench/realdata.py fetch")
    sys.exit(fetch())
