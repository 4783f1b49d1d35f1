"""Real data for tests and benchmarks: two releases of a PyPI package and the diff between them.

``python bench/realdata.py fetch`` downloads the source distributions of Pygments 2.16.1 and
2.17.2 with ``pip download --no-binary :all:`` into ``.cache/realdata/``, unpacks them as
``old/`` and ``new/`` and writes ``release.diff`` (``git diff --no-index --binary
--full-index``: about 1 MB touching about 180 files). For the secret detector's
false-positive test it also unpacks the ``tests/`` folder of the requests 2.32.3 sdist into
``secrets-corpus/requests-tests/``. Each part is skipped when it is already there. Set
``AGENTOS_REALDATA=skip`` to skip the download (the tests that need it are then skipped with
that reason).

``python bench/realdata.py fetch-large`` (benchmarks only, about 55 MB of downloads) makes
the larger real diffs of the scale benchmark in ``.cache/realdata-large/``: ``10mb`` is Django
4.1 -> 5.0 (about 10.7 MB) and ``50mb`` is Django 4.0 -> 5.0 together with SymPy 1.11.1 ->
1.12 (about 50.5 MB: one diff of the two release pairs, each under its own top folder, their
old trees side by side in ``old/``). Each diff is ``git diff --no-index --binary
--full-index old new``, applied with ``-p2`` in a copy of ``old/``.
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
LARGE_CACHE = CACHE.parent / "realdata-large"
LARGE_STRIP = 2  # "a/old/<project>/<path>" -> "<project>/<path>"
# Each large set: (top folder, PyPI name, old version, new version) for every release pair.
LARGE_SETS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "10mb": (("django", "django", "4.1", "5.0"),),
    "50mb": (("django", "django", "4.0", "5.0"), ("sympy", "sympy", "1.11.1", "1.12")),
}


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


def _unpack(archive: Path, target: Path, member: str = "", *, cache: Path = CACHE) -> None:
    """Unpack ``archive``'s top folder (or its ``member`` subfolder) as ``target``."""
    with tempfile.TemporaryDirectory(dir=cache) as scratch, tarfile.open(archive) as tar:
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


def large_paths(name: str) -> tuple[Path, Path]:
    """The old tree (the workspace to copy) and the diff of the large set ``name``."""
    return LARGE_CACHE / name / "old", LARGE_CACHE / name / "release.diff"


def large_ready(name: str) -> bool:
    """True when the large set ``name`` is in the cache."""
    old, diff = large_paths(name)
    return old.is_dir() and diff.is_file()


def fetch_large() -> int:
    """Download and diff the large sets that are not cached yet (for benchmarks only)."""
    if os.environ.get("AGENTOS_REALDATA") == "skip":
        print("realdata: skipped (AGENTOS_REALDATA=skip)")
        return 0
    sdists = LARGE_CACHE / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    for name, pairs in LARGE_SETS.items():
        if large_ready(name):
            continue
        root = LARGE_CACHE / name
        shutil.rmtree(root, ignore_errors=True)
        for top, package, old_version, new_version in pairs:
            for side, version in (("old", old_version), ("new", new_version)):
                archive = _cached_sdist(package, version, sdists)
                (root / side).mkdir(parents=True, exist_ok=True)
                _unpack(archive, root / side / top, cache=LARGE_CACHE)
        diff = root / "release.diff"
        with (root / "release.diff.part").open("wb") as out:
            proc = subprocess.run(
                ["git", "diff", "--no-index", "--binary", "--full-index", "old", "new"],
                cwd=root,
                stdout=out,
                stderr=subprocess.PIPE,
                check=False,
            )
        if proc.returncode not in (0, 1):
            raise SystemExit(f"realdata: git diff failed: {proc.stderr.decode(errors='replace')}")
        (root / "release.diff.part").rename(diff)
        # The new trees were only needed for the diff.
        shutil.rmtree(root / "new")
        print(f"realdata: {name}: {diff.stat().st_size} bytes")
    return 0


def _cached_sdist(package: str, version: str, into: Path) -> Path:
    for path in into.iterdir():
        if path.name.lower().startswith(f"{package}-{version}.") and path.name.endswith(".tar.gz"):
            return path
    return _download(version, into, package)


if __name__ == "__main__":
    commands = {"fetch": fetch, "fetch-large": fetch_large}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        raise SystemExit("usage: python bench/realdata.py fetch | fetch-large")
    sys.exit(commands[sys.argv[1]]())
