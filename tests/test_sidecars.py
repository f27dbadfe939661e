"""`.INFO` merge semantics and text sidecars."""

import json
import multiprocessing
from pathlib import Path

from mirset.export.sidecars import format_times, merge_info, read_times, write_times


def test_merge_keeps_existing_keys_and_order(tmp_path: Path) -> None:
    info = tmp_path / "Song.INFO"
    info.write_text(json.dumps({"release_year": 1999, "bpm": 120, "artist": "Ä"}, indent=2))
    merge_info(info, {"bpm": 128.5, "lufs": -9.0})
    text = info.read_text(encoding="utf-8")
    data = json.loads(text)
    assert list(data) == ["release_year", "bpm", "artist", "lufs"]
    assert data == {"release_year": 1999, "bpm": 128.5, "artist": "Ä", "lufs": -9.0}
    assert "Ä" in text and text.startswith('{\n  "release_year"') and not text.endswith("\n")


def test_corrupt_info_is_kept_beside(tmp_path: Path) -> None:
    info = tmp_path / "Song.INFO"
    info.write_text('{"bpm": 120, "truncated": ')
    merge_info(info, {"lufs": -9.0})
    assert json.loads(info.read_text()) == {"lufs": -9.0}
    kept = list(tmp_path.glob("Song.INFO.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text() == '{"bpm": 120, "truncated": '


def test_non_object_info_is_kept_beside(tmp_path: Path) -> None:
    info = tmp_path / "Song.INFO"
    info.write_text("[1, 2, 3]")
    merge_info(info, {"lufs": -9.0})
    assert len(list(tmp_path.glob("Song.INFO.corrupt-*"))) == 1


def test_nan_is_refused(tmp_path: Path) -> None:
    info = tmp_path / "Song.INFO"
    try:
        merge_info(info, {"bpm": float("nan")})
    except ValueError:
        pass
    else:  # pragma: no cover
        raise AssertionError("NaN written to .INFO")
    assert not info.exists()


def _writer(path: str, key: str) -> None:
    for i in range(30):
        merge_info(Path(path), {f"{key}{i}": i})


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    info = tmp_path / "Song.INFO"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(info), k)) for k in "abc"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    data = json.loads(info.read_text())
    assert len(data) == 90


def test_times_format_round_trip(tmp_path: Path) -> None:
    assert format_times([0.5, 1.0000004]) == "0.500000\n1.000000\n"
    assert format_times([]) == ""
    path = tmp_path / "x.BEATS_GRID"
    write_times(path, [0.1234567, 2.0])
    assert read_times(path) == [0.123457, 2.0]
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)
