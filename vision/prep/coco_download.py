"""Download and extract the COCO 2017 archives: checked, resumable, and skipped once done."""

import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from tqdm import tqdm

from vision.utils.fileio import atomic_write_json

from . import PrepError
from .download import DEFAULT_MIN_SPEED, DEFAULT_TIMEOUT_S, download, ensure_free_space, format_bytes, part_path

OFFICIAL_HOST = "images.cocodataset.org"
DEFAULT_BASE_URL = f"http://{OFFICIAL_HOST}"
ALL_SPLITS = ("train2017", "val2017", "test2017", "annotations")
DEFAULT_SPLITS = ("train2017", "val2017", "annotations")

# Sizes (bytes) and MD5 sums of the archives on COCO's server, as published by several
# independent download scripts. They are only applied to downloads from OFFICIAL_HOST:
# another server (a mirror, a test fixture) may serve different files under the same names,
# and those are still checked by Content-Length and the zip CRCs.
OFFICIAL_ARCHIVES = {
    "train2017.zip": (19336861798, "cced6f7f71b7629ddf16f17bbcfab6b2"),
    "val2017.zip": (815585330, "442b8da7639aecaf257c1dceb8ba8c80"),
    "test2017.zip": (6646970404, "77ad2c53ac5d0aea611d422c0938fb35"),
    "annotations_trainval2017.zip": (252907541, "f4bbac642086de4f52a3fdda2de5fa2c"),
}


@dataclass(frozen=True)
class Archive:
    url_path: str  # relative to the base URL

    @property
    def name(self) -> str:
        return self.url_path.rsplit("/", 1)[-1]

    def marker(self, root: Path) -> Path:
        """Written after a successful extraction; its presence makes a re-run skip this archive."""
        return root / f".{self.name}.done"


def archive_for(split: str) -> Archive:
    if split == "annotations":
        return Archive("annotations/annotations_trainval2017.zip")
    if split not in ALL_SPLITS:
        raise PrepError(f"unknown split {split!r}; choose from {', '.join(ALL_SPLITS)}")
    return Archive(f"zips/{split}.zip")


def download_coco(root: Path, splits=DEFAULT_SPLITS, base_url: str = DEFAULT_BASE_URL, workers: int = 2,
                  keep_zips: bool = False, extract: bool = True, retries: int = 5, backoff: float = 1.0,
                  timeout: float = DEFAULT_TIMEOUT_S, min_speed: float = DEFAULT_MIN_SPEED,
                  known: dict | None = None) -> list[str]:
    """Fetch (and extract) the archives of the given splits into root; return one summary line each.

    known maps archive names to (size, md5); by default the official table for COCO's own server.
    retries, backoff, timeout and min_speed are those of vision.prep.download.download.
    Raises PrepError naming every archive that failed.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base_url = base_url.rstrip("/")
    if known is None:
        known = OFFICIAL_ARCHIVES if urlparse(base_url).hostname == OFFICIAL_HOST else {}
    archives = [archive_for(s) for s in dict.fromkeys(splits)]
    _check_space_for_known(root, archives, known, extract)
    network = dict(retries=retries, backoff=backoff, timeout=timeout, min_speed=min_speed)

    def fetch(index_archive):
        index, archive = index_archive
        try:
            return fetch_archive(root, archive, base_url, known.get(archive.name, (None, None)),
                                 keep_zips, extract, position=index, **network), None
        except PrepError as e:
            return None, str(e)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(pool.map(fetch, enumerate(archives)))
    failures = [error for _, error in results if error]
    if failures:
        raise PrepError("; ".join(failures))
    return [line for line, _ in results]


def fetch_archive(root: Path, archive: Archive, base_url: str, size_md5, keep_zips: bool, extract: bool,
                  position: int | None = None, **network) -> str:
    zip_path = root / archive.name
    if archive.marker(root).exists():
        return f"{archive.name}: already extracted"
    if not extract and zip_path.exists():
        return f"{archive.name}: already downloaded"
    if not zip_path.exists():
        size, md5 = size_md5
        download(f"{base_url}/{archive.url_path}", zip_path, expected_size=size, md5=md5, position=position,
                 **network)
    check_zip(zip_path, position)
    if not extract:
        return f"{archive.name}: downloaded and checked"
    count = safe_extract(zip_path, root, position)
    atomic_write_json(archive.marker(root), {"archive": archive.name, "members": count})
    if not keep_zips:
        zip_path.unlink()
    return f"{archive.name}: extracted {count} files into {root}"


def _check_space_for_known(root: Path, archives, known: dict, extract: bool) -> None:
    """Check up front, where sizes are known, so a long download does not fail hours in.

    The images are JPEGs, so an extracted archive takes about as much space as the zip, and the
    zip is kept until its extraction is complete.
    """
    needed = 0
    for archive in archives:
        if archive.marker(root).exists() or archive.name not in known:
            continue
        size = known[archive.name][0]
        zip_path, part = root / archive.name, part_path(root / archive.name)
        if not zip_path.exists():
            needed += size - (part.stat().st_size if part.exists() else 0)
        if extract:
            needed += size
    if needed:
        ensure_free_space(root, needed, f"the COCO archives ({format_bytes(needed)} to download and extract)")


def check_zip(zip_path: Path, position: int | None = None) -> None:
    """Read every member and compare its CRC (what ZipFile.testzip does), with progress and a reason.

    A corrupt archive cannot be repaired by resuming, so it is deleted for the next run to fetch again.
    """
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members = zf.infolist()
            with tqdm(total=sum(m.file_size for m in members), desc=f"{zip_path.name} check", unit="B",
                      unit_scale=True, unit_divisor=1024, position=position, leave=False) as bar:
                for member in members:
                    _read_member(zf, member, bar)
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        zip_path.unlink()
        raise PrepError(f"{zip_path.name}: corrupt zip archive ({e}); nothing extracted, deleted it, "
                        "re-run to download again") from None


def _read_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, bar) -> None:
    try:
        with zf.open(member) as f:
            while chunk := f.read(1 << 20):
                bar.update(len(chunk))
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise zipfile.BadZipFile(f"member {member.filename}: {e}") from None


def unsafe_member_reason(name: str) -> str | None:
    """Why extracting this member name could write outside the target directory, or None."""
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return "absolute path"
    if ".." in normalized.split("/"):
        return "'..' in path"
    return None


def safe_extract(zip_path: Path, target: Path, position: int | None = None) -> int:
    """Extract after checking every member path first, so a hostile archive extracts nothing."""
    with zipfile.ZipFile(zip_path) as zf:
        members = zf.infolist()
        for member in members:
            reason = unsafe_member_reason(member.filename)
            if reason:
                raise PrepError(f"{zip_path.name}: unsafe member path {member.filename!r} ({reason}); "
                                "nothing extracted")
        total = sum(m.file_size for m in members)
        ensure_free_space(target, total, f"extracting {zip_path.name}")
        with tqdm(total=total, desc=f"{zip_path.name} extract", unit="B", unit_scale=True, unit_divisor=1024,
                  position=position, leave=False) as bar:
            for member in members:
                zf.extract(member, target)
                bar.update(member.file_size)
    return sum(1 for m in members if not m.is_dir())

