"""End to end: `mirset build` on real music in every format plus every kind of bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from helpers import read_table, rows_by_path, run_mirset
from mirset.export.sidecars import read_times


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory):
    """One real build over the music and bad-input folders (copied: sidecars are written)."""
    base = tmp_path_factory.mktemp("e2e")
    copy = corpus.copy(base / "corpus")
    music = copy.music
    copy.bad.rename(music / "bad")
    out = base / "out"
    summary = base / "summary.json"
    proc = run_mirset(
        "build", str(music), str(out), "-j", "2", "--no-progress", "--json-summary", str(summary)
    )
    return {
        "music": music,
        "out": out,
        "proc": proc,
        "rows": rows_by_path(out),
        "summary": json.loads(summary.read_text()),
    }


def _expected_music(corpus) -> dict[str, dict]:
    return {
        k.removeprefix("music/"): v for k, v in corpus.expected.items() if k.startswith("music/")
    }


def _expected_bad(corpus) -> dict[str, dict]:
    return {
        "bad/" + k.removeprefix("bad/"): v
        for k, v in corpus.expected.items()
        if k.startswith("bad/")
    }


def test_exit_status_and_summary_count_failures(built, corpus) -> None:
    proc, summary = built["proc"], built["summary"]
    n_fail = sum(1 for v in _expected_bad(corpus).values() if v.get("should_fail"))
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert summary["failed"] == n_fail
    assert summary["ok"] == len(built["rows"]) - n_fail
    assert "failed" in proc.stderr and "real time" in proc.stderr


def test_every_good_file_has_an_ok_row(built, corpus) -> None:
    rows = built["rows"]
    for rel in _expected_music(corpus):
        if Path(rel).stem in {"drums", "bass", "other", "vocals"}:
            continue
        assert rel in rows, rel
        row = rows[rel]
        assert row["status"] == "ok", (rel, row["status"])
        assert row["lufs"] is not None and row["spectral_centroid_hz"] > 0
        assert row["duration_s"] > 1 and row["track_id"] and row["file_hash"]
    codecs = {r["codec"].split("/")[-1] for r in rows.values() if r["codec"]}
    assert {"vorbis", "aac", "opus"} <= {c for c in codecs} | {c.split("_")[-1] for c in codecs}, (
        codecs
    )


def test_organised_layout_and_stems(built) -> None:
    organised = [r for r in built["rows"].values() if r["layout"] == "organised"]
    assert organised, "no organised track found"
    with_stems = [r for r in organised if r["stems"]]
    assert with_stems and set(with_stems[0]["stems"]) == {"bass", "drums", "other", "vocals"}
    for r in organised:
        assert r["relative_path"].split("/")[-1].startswith("full_mix.")
        assert r["folder_name"] == r["relative_path"].split("/")[-2]
    # stems are inputs of the track, never rows of their own
    assert not any(Path(p).stem in {"drums", "bass", "other", "vocals"} for p in built["rows"])


def test_bad_inputs_give_rows_with_reasons(built, corpus) -> None:
    rows = built["rows"]
    for rel, facts in _expected_bad(corpus).items():
        assert rel in rows, f"no row for {rel!r}"
        status = rows[rel]["status"]
        if facts.get("should_fail"):
            assert status.startswith("failed: ") and len(status) > 15, (rel, status)
        else:
            assert status == "ok", (rel, status)


def test_silence_and_tiny_clips_are_null_with_reasons(built) -> None:
    rows = built["rows"]
    silence = next(r for p, r in rows.items() if p.endswith("silence.wav"))
    assert silence["bpm"] is None and "silent" in silence["beats_status"]
    assert silence["lufs"] is None and "silent" in silence["loudness_status"]
    tiny = next(r for p, r in rows.items() if p.endswith("tiny.wav"))
    assert tiny["lra"] is None and "3 s" in tiny["loudness_status"]
    assert tiny["bpm"] is None


def test_odd_formats_are_analysed(built) -> None:
    rows = built["rows"]
    by_name = {Path(p).name: r for p, r in rows.items()}
    assert by_name["mono_8k.wav"]["sample_rate"] == 8000 and by_name["mono_8k.wav"]["channels"] == 1
    assert by_name["hires_96k_24bit.flac"]["sample_rate"] == 96000
    assert by_name["six_channels.wav"]["channels"] == 6
    hour = next(r for p, r in rows.items() if "one_hour" in p)
    assert hour["duration_s"] == pytest.approx(3600, abs=2)
    assert hour["bpm_is_defined"] in (0, 1)


def test_no_nan_or_inf_anywhere(built) -> None:
    table = read_table(built["out"])
    for name in table.column_names:
        if pa.types.is_floating(table.schema.field(name).type):
            values = [v for v in table.column(name).to_pylist() if v is not None]
            assert all(math.isfinite(v) for v in values), name


def test_readable_by_polars_pyarrow_and_duckdb(built) -> None:
    out = built["out"]
    n = len(built["rows"])
    assert pl.read_delta(str(out / "table")).height == n
    dataset = DeltaTable(str(out / "table")).to_pyarrow_dataset()
    assert dataset.count_rows() == n
    con = duckdb.connect()
    con.register("tracks", dataset)
    got = con.execute("select count(*), count(distinct relative_path) from tracks").fetchone()
    assert got == (n, n)


def test_every_field_carries_metadata(built) -> None:
    schema = pa.schema(DeltaTable(str(built["out"] / "table")).schema().to_arrow())
    for name in (
        "lufs",
        "lra",
        "true_peak_dbtp",
        "spectral_flux",
        "rms_energy_air",
        "bpm",
        "onset_density",
        "beat_times",
    ):
        meta = {k.decode(): v.decode() for k, v in schema.field(name).metadata.items()}
        assert meta["description"] and meta["extractor"] and meta["version"], name
        assert "unit" in meta and "range" in meta
    assert json.loads(schema.field("lufs").metadata[b"range"].decode()) == [-70.0, 0.0]


def test_sidecars_match_the_table(built) -> None:
    out, music = built["out"], built["music"]
    for row in built["rows"].values():
        if row["status"] != "ok":
            continue
        side = Path(row["sidecar_dir"])
        if row["layout"] == "organised":
            assert side == (music / row["relative_path"]).parent
        else:
            assert side == out / "tracks" / Path(row["relative_path"]).parent
        base = side / row["folder_name"]
        info = json.loads(Path(f"{base}.INFO").read_text(encoding="utf-8"))
        for key in (
            "lufs",
            "lra",
            "bpm",
            "beat_count",
            "onset_count",
            "spectral_flux",
            "rms_energy_bass",
        ):
            assert info[key] == row[key], (row["relative_path"], key)
        assert read_times(Path(f"{base}.BEATS_GRID")) == pytest.approx(row["beat_times"], abs=1e-6)
        assert read_times(Path(f"{base}.ONSETS")) == pytest.approx(row["onset_times"], abs=1e-6)


def test_schema_and_status_commands(built) -> None:
    schema = run_mirset("schema", "--json")
    assert schema.returncode == 0
    cols = {c["column"]: c for c in json.loads(schema.stdout)}
    assert cols["lufs"]["unit"] == "LUFS" and cols["lra"]["extractor"] == "loudness"
    table = run_mirset("schema")
    assert "spectral_flux" in table.stdout and "LUFS" in table.stdout
    status = run_mirset("status", str(built["out"]))
    assert status.returncode == 0, status.stderr
    assert "tracks:" in status.stdout and "failed tracks" in status.stdout
    assert "corrupt" in status.stdout and "loudness" in status.stdout
