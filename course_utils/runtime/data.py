"""Course data in one schema (`document`, `label`): NSMC online, the bundled English reviews offline."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import datasets
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value, load_dataset

from course_utils.runtime.env import Profile
from course_utils.runtime.paths import DATA_DIR

NSMC_HUB_ID = "e9t/nsmc"
NSMC_PARQUET_REVISION = "refs/convert/parquet"
NSMC_TSV_URLS = {
    "train": "https://raw.githubusercontent.com/e9t/nsmc/master/ratings_train.txt",
    "test": "https://raw.githubusercontent.com/e9t/nsmc/master/ratings_test.txt",
}
HEADER = ("id", "document", "label")
FEATURES = Features({"document": Value("string"), "label": ClassLabel(names=["negative", "positive"])})


@contextmanager
def quiet_datasets() -> Iterator[None]:
    """Hide the datasets library's per-step progress bars (generate, map, cast, filter) inside the block."""
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


class DataFormatError(ValueError):
    """A data file that does not follow the `id<TAB>document<TAB>label` format."""


def validate_tsv(path: str | Path) -> int:
    """Check an NSMC-format TSV line by line and return its number of rows; raise naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    n_rows = 0
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            raise DataFormatError(f"{path}: file is empty, expected header id<TAB>document<TAB>label")
        if tuple(header) != HEADER:
            raise DataFormatError(f"{path}:1: header must be id<TAB>document<TAB>label, got {header!r}")
        for row in reader:
            line = reader.line_num
            if len(row) != 3:
                raise DataFormatError(f"{path}:{line}: expected 3 tab-separated fields, got {len(row)}")
            if row[2] not in ("0", "1"):
                raise DataFormatError(f"{path}:{line}: label must be 0 or 1, got {row[2]!r}")
            n_rows += 1
    if n_rows == 0:
        raise DataFormatError(f"{path}: no data rows after the header")
    return n_rows


def read_tsv_splits(files: Mapping[str, str | Path]) -> DatasetDict:
    """Load NSMC-format TSV files (local paths or URLs) with QUOTE_NONE and empty strings kept."""
    for path in files.values():
        if not str(path).startswith(("http://", "https://")):
            validate_tsv(path)
    with quiet_datasets():
        raw = load_dataset(
            "csv", data_files={k: str(v) for k, v in files.items()},
            delimiter="\t",             # 탭으로 나뉜 id, document, label
            quoting=csv.QUOTE_NONE,     # 따옴표로 시작하는 리뷰가 다음 줄들을 삼키지 않게
            keep_default_na=False,      # 빈 리뷰를 None이 아니라 ""로
            features=Features({"id": Value("string"), "document": Value("string"), "label": Value("int64")}),
        )
        return to_schema(raw)


def to_schema(raw: DatasetDict) -> DatasetDict:
    """Keep only `document` (str, empty for missing) and `label` (ClassLabel negative/positive)."""
    out = {}
    for split, ds in raw.items():
        missing = {"document", "label"} - set(ds.column_names)
        if missing:
            raise DataFormatError(f"split {split!r} lacks columns {sorted(missing)}; has {ds.column_names}")
        ds = ds.select_columns(["document", "label"])
        ds = ds.map(lambda row: {"document": row["document"] or "", "label": int(row["label"])})
        out[split] = ds.cast(FEATURES)
    return DatasetDict(out)


def load_bundled_reviews(data_dir: str | Path = DATA_DIR) -> DatasetDict:
    """The bundled English movie reviews: train and test splits."""
    data_dir = Path(data_dir)
    return read_tsv_splits({"train": data_dir / "reviews_en_train.tsv", "test": data_dir / "reviews_en_test.tsv"})


def load_nsmc(hub_id: str | None = None, revision: str = NSMC_PARQUET_REVISION,
              tsv_files: Mapping[str, str | Path] | None = None) -> DatasetDict:
    """NSMC on datasets >= 4: the hub's parquet revision first, then the raw TSV files of the original repository.

    `load_dataset("nsmc")` alone fails on datasets >= 4: the hub repository holds a loading script (nsmc.py),
    and datasets 4.0 removed script support (datasets/load.py: "Dataset scripts are no longer supported").
    """
    hub_id = hub_id or NSMC_HUB_ID
    try:
        # 허브가 자동 변환해 둔 parquet 브랜치: 스크립트 없이 train/test를 읽습니다
        with quiet_datasets():
            raw = load_dataset(hub_id, revision=revision)
            return to_schema(DatasetDict({k: raw[k] for k in ("train", "test")}))
    except Exception as err:  # noqa: BLE001 - 어떤 실패든 원본 TSV로 넘어갑니다
        print(f"NSMC parquet 브랜치를 읽지 못했습니다 ({type(err).__name__}). 원본 TSV 파일(raw TSV)을 읽습니다.")
    # e9t/nsmc 저장소의 원본 ratings_train.txt / ratings_test.txt (탭 구분, QUOTE_NONE)
    return read_tsv_splits(tsv_files or NSMC_TSV_URLS)


def drop_empty(ds: DatasetDict) -> DatasetDict:
    """Remove rows whose document is empty or whitespace only."""
    return DatasetDict({k: v.filter(lambda row: bool(row["document"].strip())) for k, v in ds.items()})


def carve_validation(ds: DatasetDict, n_validation: int, seed: int = 42) -> DatasetDict:
    """Split a stratified validation set of `n_validation` rows off train (NSMC has none)."""
    if "train" not in ds:
        raise ValueError(f"carve_validation needs a 'train' split; got {list(ds)}")
    if not isinstance(n_validation, int) or not 0 < n_validation < len(ds["train"]):
        raise ValueError(f"n_validation must be an int in 1..{len(ds['train']) - 1}, got {n_validation!r}")
    parts = ds["train"].train_test_split(test_size=n_validation, seed=seed, stratify_by_column="label")
    return DatasetDict({"train": parts["train"], "validation": parts["test"],
                        **{k: v for k, v in ds.items() if k != "train"}})


def subsample(ds: Dataset, n: int | None, seed: int = 42) -> Dataset:
    """A seeded random subset of `n` rows (the whole split when n is None or larger)."""
    if n is None or n >= len(ds):
        return ds
    if n <= 0:
        raise ValueError(f"n must be positive or None, got {n!r}")
    return ds.shuffle(seed=seed).select(range(n))


def load_course_data(profile: Profile, seed: int = 42) -> DatasetDict:
    """train/validation/test for the profile: bundled reviews offline, NSMC online; sized by the profile."""
    if profile.data_source == "bundled-en":
        ds = load_bundled_reviews()
    elif profile.data_source == "nsmc":
        ds = load_nsmc()
    else:
        raise ValueError(f"profile.data_source must be 'bundled-en' or 'nsmc', got {profile.data_source!r}")
    with quiet_datasets():
        ds = carve_validation(drop_empty(ds), profile.n_validation, seed=seed)
        return DatasetDict({
            "train": subsample(ds["train"], profile.n_train, seed),
            "validation": ds["validation"],
            "test": subsample(ds["test"], profile.n_test, seed),
        })


def label_counts(ds: Dataset) -> dict[str, int]:
    """How many rows per label name."""
    names = ds.features["label"].names
    counts = {name: 0 for name in names}
    for label in ds["label"]:
        counts[names[label]] += 1
    return counts
