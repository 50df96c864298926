"""Loaders on tiny trees built in each dataset's documented layout (see tests/dataset_trees.py)."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from microexp.errors import DatasetError
from tests import dataset_trees as trees
from train.datasets import (
    ClipRecord,
    load_casme2,
    load_casme_sq,
    load_dataset,
    load_megc2019,
    load_samm,
    load_smic,
    load_synthetic,
    natural_key,
)


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("datasets")
    return {
        "casme2": trees.build_casme2(base),
        "samm": trees.build_samm(base),
        "smic": trees.build_smic(base),
        "casme_sq": trees.build_casme_sq(base),
        "synthetic": trees.build_synthetic(base),
    }


def by_clip(records: list[ClipRecord]) -> dict[str, ClipRecord]:
    return {r.clip: r for r in records}


def issues(report, kind: str) -> list[tuple[str, str]]:
    return [(i.subject, i.clip) for i in report.of_kind(kind)]


def test_natural_key_orders_numbers_numerically() -> None:
    names = ["img10.jpg", "img2.jpg", "img1.jpg", "img100.jpg"]
    assert sorted(names, key=natural_key) == ["img1.jpg", "img2.jpg", "img10.jpg", "img100.jpg"]


# --- CASME II -------------------------------------------------------------------------------


def test_casme2_records_indices_and_labels(roots) -> None:
    records, report = load_casme2(roots["casme2"])
    clips = by_clip(records)
    assert list(clips) == ["EP02_01f", "EP03_02", "EP01_11f", "EP05_03", "EP09_04", "EP07_01"]
    ep = clips["EP02_01f"]
    assert (ep.subject, ep.dataset, ep.fps, ep.video) == ("casme2/sub01", "casme2", 200.0, None)
    assert ep.frames[0].name == "img46.jpg" and ep.frames[0].parent.parent.parent.name == "CASME2_RAW_selected"
    assert (ep.onset, ep.apex, ep.offset) == (0, 4, 9)  # frames 46, 50, 55 -> not number - 1
    assert (ep.label, ep.label3, ep.aus) == ("happiness", "positive", "12")
    # Natural order: img1, img2, ..., img10 ... img12; apex frame 10 is the 10th file.
    ep3 = clips["EP03_02"]
    assert [p.name for p in ep3.frames[:3]] == ["img1.jpg", "img2.jpg", "img3.jpg"]
    assert ep3.frames[9].name == "img10.jpg" and (ep3.onset, ep3.apex, ep3.offset) == (0, 9, 11)
    assert ep3.label3 == "negative"  # repression
    assert clips["EP01_11f"].subject == "casme2/sub02"  # subject cell "02"
    assert clips["EP09_04"].subject == "casme2/sub03"  # subject cell "sub03"
    assert {c: clips[c].label3 for c in ("EP01_11f", "EP05_03", "EP09_04", "EP07_01")} == {
        "EP01_11f": "negative", "EP05_03": None, "EP09_04": None, "EP07_01": None,
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        ep.label = "x"  # type: ignore[misc]


def test_casme2_report(roots) -> None:
    records, report = load_casme2(roots["casme2"])
    assert report.annotation.endswith("CASME2-coding-20140508.xlsx")
    assert report.n_records == len(records) == 6
    assert issues(report, "apex_filled") == [("casme2/sub02", "EP01_11f")]
    assert "midpoint" in report.apex_filled[0].detail
    assert by_clip(records)["EP01_11f"].apex == 4  # "/" -> midpoint of indices 0 and 8
    assert issues(report, "missing_on_disk") == [("casme2/sub02", "EP99_99")]
    assert issues(report, "not_in_annotation") == [("casme2/sub03", "EP_EXTRA")]
    assert issues(report, "out_of_range") == [("casme2/sub01", "EP04_01")]
    assert "30" in report.out_of_range[0].detail and report.out_of_range[0].skipped
    assert issues(report, "unknown_label") == [("casme2/sub03", "EP07_01")]
    assert {i.clip for i in report.skipped} == {"EP99_99", "EP_EXTRA", "EP04_01"}
    assert json.loads(json.dumps(report.to_dict()))["n_records"] == 6
    assert "missing_on_disk: 1" in report.summary()
    assert (report.name, report.synthetic, report.labels) == ("casme2", False, ("negative", "positive", "surprise"))


def test_casme2_cropped(roots) -> None:
    raw, _ = load_casme2(roots["casme2"])
    cropped, report = load_casme2(roots["casme2"], cropped=True)
    ep = by_clip(cropped)["EP02_01f"]
    assert ep.frames[0].name == "reg_img46.jpg" and ep.frames[0].parts[-4] == "Cropped"
    assert [(r.clip, r.onset, r.apex, r.offset) for r in cropped] == [(r.clip, r.onset, r.apex, r.offset) for r in raw]
    assert issues(report, "not_in_annotation") == [("casme2/sub03", "EP_EXTRA")]


def test_casme2_finds_other_coding_names_and_explicit_path(tmp_path) -> None:
    root = trees.build_casme2(tmp_path, coding_name="CASME2-coding-20190701.xlsx")
    records, report = load_casme2(root)
    assert report.annotation.endswith("-20190701.xlsx") and len(records) == 6
    # Pointing at the frame folder itself, with the coding file given explicitly.
    records2, _ = load_casme2(root / "CASME2_RAW_selected", annotation=root / "CASME2-coding-20190701.xlsx")
    assert [r.clip for r in records2] == [r.clip for r in records]
    (root / "CASME2-coding-20190701.xlsx").unlink()
    with pytest.raises(DatasetError, match="coding file not found"):
        load_casme2(root)


def test_casme2_bad_rows_are_skipped_not_fatal(roots, tmp_path) -> None:
    rows = [
        trees.CASME2_HEADER,
        ("abc", "EP02_01f", None, 46, 50, 55, None, "12", "happiness"),  # no subject number
        (1, "EP02_01f", None, "x", 50, 55, None, "12", "happiness"),  # onset not a number
        (1, "EP03_02", None, 12, 10, 1, None, "14", "repression"),  # offset before onset
        (1, "EP03_02", None, 1, 10, 12, None, "14", "repression"),  # fine
        (1, "EP03_02", None, 1, 10, 12, None, "14", "repression"),  # duplicate
        (2, "EP05_03", None, 100, 200, 103, None, "", "others"),  # apex outside -> midpoint
    ]
    coding = trees.write_xlsx(tmp_path / "mine.xlsx", {"coding": rows})
    records, report = load_casme2(roots["casme2"], annotation=coding)
    assert [r.clip for r in records] == ["EP03_02", "EP05_03"]
    assert len(report.of_kind("bad_row")) == 3 and issues(report, "duplicate") == [("casme2/sub01", "EP03_02")]
    assert by_clip(records)["EP05_03"].apex == 1 and issues(report, "apex_filled") == [("casme2/sub02", "EP05_03")]


# --- SAMM -----------------------------------------------------------------------------------


def test_samm(roots) -> None:
    records, report = load_samm(roots["samm"])  # xlsx lies beside SAMM/, 13 preamble rows
    clips = by_clip(records)
    assert list(clips) == ["006_1_2", "006_1_3", "007_3_1"]
    r = clips["006_1_2"]
    assert (r.subject, r.fps, r.frames[0].name, len(r.frames)) == ("samm/006", 200.0, "006_05562.jpg", 9)
    assert (r.onset, r.apex, r.offset, r.label, r.label3, r.aus) == (0, 4, 8, "anger", "negative", "4+7")
    assert (clips["006_1_3"].apex, clips["006_1_3"].label3) == (2, "positive")  # apex -1 -> midpoint
    assert (clips["007_3_1"].subject, clips["007_3_1"].label, clips["007_3_1"].label3) == ("samm/007", "others", None)
    assert issues(report, "apex_filled") == [("samm/006", "006_1_3")]
    assert issues(report, "missing_on_disk") == [("samm/007", "007_9_9")]
    assert report.annotation.endswith("SAMM_Micro_FACS_Codes_v2.xlsx")


def test_samm_without_header_row_is_an_error(tmp_path) -> None:
    root = trees.build_samm(tmp_path)
    trees.write_xlsx(tmp_path / "SAMM_Micro_FACS_Codes_v2.xlsx", {"s": [("no", "header", "here")]})
    with pytest.raises(DatasetError, match="header"):
        load_samm(root)


# --- SMIC -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cropped", [False, True])
def test_smic(roots, cropped) -> None:
    records, report = load_smic(roots["smic"], cropped=cropped)
    clips = by_clip(records)
    assert set(clips) == {"s1_ne_01", "s1_sur_01", "s2_po_01"}  # non_micro ignored
    ne = clips["s1_ne_01"]
    prefix = "reg_image" if cropped else "image"
    assert [p.name for p in ne.frames] == [f"{prefix}{n}.bmp" for n in range(95, 104)]  # 99 before 100
    assert (ne.onset, ne.apex, ne.offset) == (0, 4, 8)
    assert (ne.subject, ne.fps, ne.label, ne.label3) == ("smic/s1", 100.0, "negative", "negative")
    assert (clips["s2_po_01"].onset, clips["s2_po_01"].apex, clips["s2_po_01"].offset) == (0, 2, 5)
    assert {r.label3 for r in records} == {"negative", "positive", "surprise"}
    assert ("SMIC_all_cropped" in report.root) == cropped
    assert any("midpoint" in n for n in report.notes) and report.ok


def test_smic_variant_folder_and_missing_variant(roots) -> None:
    records, _ = load_smic(roots["smic"] / "SMIC_all_raw" / "HS")
    assert len(records) == 3
    with pytest.raises(DatasetError):
        load_smic(roots["smic"], variant="NIR")
    with pytest.raises(DatasetError):
        load_smic(roots["smic"], variant="XYZ")


# --- CAS(ME)^2 ------------------------------------------------------------------------------


def test_casme_sq_micro_only(roots) -> None:
    records, report = load_casme_sq(roots["casme_sq"])
    clips = by_clip(records)
    assert list(clips) == ["disgust1_1", "disgust1_2", "anger1_1"]
    d = clips["disgust1_1"]
    assert d.subject == "casme_sq/s15" and d.frames[0].parent.name == "15_0101disgustingteeth"
    assert [p.name for p in d.frames[:3]] == ["img1.jpg", "img2.jpg", "img3.jpg"] and len(d.frames) == 20
    assert (d.onset, d.apex, d.offset, d.fps, d.label3, d.aus) == (2, 5, 8, 30.0, "negative", "4+7")
    assert (clips["disgust1_2"].onset, clips["disgust1_2"].apex, clips["disgust1_2"].offset) == (11, 13, 15)
    assert clips["anger1_1"].subject == "casme_sq/s16" and clips["anger1_1"].label3 is None
    assert clips["anger1_1"].frames[0].parent.name == "16_0401girlcrashing"
    assert issues(report, "offset_filled") == [("casme_sq/s15", "disgust1_2")]
    assert issues(report, "missing_on_disk") == [("casme_sq/s15", "happy2_1")]
    assert issues(report, "bad_row") == [("casme_sq/s16", "weird9_1")]
    assert "naming rule2" in report.of_kind("bad_row")[0].detail
    assert issues(report, "not_in_annotation") == [("casme_sq/s16", "16_0508funnyinnovations")]
    assert any("1 macro" in n for n in report.notes)


def test_casme_sq_with_macro(roots) -> None:
    records, _ = load_casme_sq(roots["casme_sq"], micro_only=False)
    macro = by_clip(records)["anger1_2"]
    assert (macro.onset, macro.apex, macro.offset, macro.label3) == (3, 9, 17, "negative")
    assert len(records) == 4


def test_casme_sq_falls_back_to_rawvideo(roots, tmp_path) -> None:
    root = tmp_path / "CASME_sq"
    (root / "rawpic").mkdir(parents=True)
    (root / "CAS(ME)^2code_final.xlsx").write_bytes((roots["casme_sq"] / "CAS(ME)^2code_final.xlsx").read_bytes())
    video = trees.write_video(root / "rawvideo" / "s15" / "15_0101disgustingteeth.avi", n_frames=4)
    records, report = load_casme_sq(root)
    d = by_clip(records)["disgust1_1"]
    assert (d.video, d.frames, d.onset, d.apex, d.offset) == (video, (), 2, 5, 8)
    assert issues(report, "missing_on_disk") == [("casme_sq/s16", "anger1_1"), ("casme_sq/s15", "happy2_1")]


@pytest.mark.parametrize("rule2", ["folder suffixes", "both"])
def test_casme_sq_naming_rule2_readings(roots, tmp_path, rule2) -> None:
    """'naming rule2' listing folder suffixes (0101 -> disgustingteeth), or names and
    suffixes, loads the same clips as the video-name reading: no good row becomes a bad row."""
    expected, expected_report = load_casme_sq(roots["casme_sq"], micro_only=False)
    records, report = load_casme_sq(trees.build_casme_sq(tmp_path, rule2=rule2), micro_only=False)
    assert [(r.subject, r.clip, r.onset, r.apex, r.offset, r.label3) for r in records] == [
        (r.subject, r.clip, r.onset, r.apex, r.offset, r.label3) for r in expected
    ]
    assert [p.relative_to(tmp_path) for p in by_clip(records)["disgust1_1"].frames] == [
        p.relative_to(roots["casme_sq"].parent) for p in by_clip(expected)["disgust1_1"].frames
    ]
    assert issues(report, "bad_row") == [("casme_sq/s16", "weird9_1")]
    assert "'weird9'" in report.of_kind("bad_row")[0].detail
    assert [(i.kind, i.subject, i.clip) for i in report.issues] == [
        (i.kind, i.subject, i.clip) for i in expected_report.issues
    ]
    # happy2 has no row of its own under "folder suffixes": the release's code 0503 is looked for.
    want = "15_0503*" if rule2 == "folder suffixes" else "15_0502*"
    assert report.missing_on_disk[0].detail.endswith(want)


def test_synthetic_duplicates_and_bad_rows(roots, tmp_path) -> None:
    """A skipped row does not make the next row of its clip a duplicate; a second usable one is."""
    root = tmp_path / "syn"
    shutil.copytree(roots["synthetic"], root)
    with (root / "annotations.csv").open("a", newline="") as f:
        csv.writer(f).writerows([
            ("sub02", "clip_0004", 0, 1, 2, "surprise", "", 30),  # onset 0: bad row
            ("sub02", "clip_0004", 1, 1, 2, "surprise", "", 30),  # fine
            ("sub02", "clip_0004", 1, 2, 2, "surprise", "", 30),  # duplicate
            ("sub01", "clip_0001", 1, 2, 3, "anger", "", 25),  # duplicate of the first row
        ])
    records, report = load_synthetic(root)
    assert [r.clip for r in records] == ["clip_0001", "clip_0002", "clip_0004"]
    assert (by_clip(records)["clip_0004"].apex, by_clip(records)["clip_0004"].label3) == (0, "surprise")
    assert issues(report, "bad_row") == [("synthetic/sub02", "clip_0004")]
    assert [(i.clip, i.detail) for i in report.of_kind("duplicate")] == [
        ("clip_0004", "line 7 ignored"), ("clip_0001", "line 8 ignored"),
    ]
    assert issues(report, "not_in_annotation") == []


# --- MEGC composite -------------------------------------------------------------------------


def test_megc2019_composite(roots) -> None:
    records, report = load_megc2019(casme2=roots["casme2"], samm=roots["samm"], smic=roots["smic"])
    assert {r.label3 for r in records} == {"negative", "positive", "surprise"}
    assert [(r.dataset, r.clip, r.label3) for r in records] == [
        ("casme2", "EP02_01f", "positive"),
        ("casme2", "EP03_02", "negative"),
        ("casme2", "EP01_11f", "negative"),
        ("samm", "006_1_2", "negative"),
        ("samm", "006_1_3", "positive"),
        ("smic", "s1_ne_01", "negative"),
        ("smic", "s1_sur_01", "surprise"),
        ("smic", "s2_po_01", "positive"),
    ]
    assert len({r.key for r in records}) == len(records) == report.n_records
    assert {r.subject.split("/")[0] for r in records} == {"casme2", "samm", "smic"}
    assert any("casme2: dropped" in n and "fear" in n for n in report.notes)
    assert ("casme2/sub02", "EP99_99") in issues(report, "missing_on_disk")
    spec = f"megc=casme2:{roots['casme2']},samm:{roots['samm']},smic:{roots['smic']}"
    assert load_dataset(spec)[0] == records
    only_smic, _ = load_dataset(f"megc=smic:{roots['smic']}")
    assert [r.dataset for r in only_smic] == ["smic"] * 3
    with pytest.raises(DatasetError):
        load_megc2019()


# --- synthetic ------------------------------------------------------------------------------


def test_synthetic_frames_and_video(roots) -> None:
    records, report = load_synthetic(roots["synthetic"])
    clips = by_clip(records)
    assert list(clips) == ["clip_0001", "clip_0002"]
    a, b = clips["clip_0001"], clips["clip_0002"]
    assert (a.subject, a.video, len(a.frames), a.frames[9].name) == ("synthetic/sub01", None, 12, "img10.jpg")
    assert (a.onset, a.apex, a.offset, a.label3, a.fps) == (1, 3, 5, "negative", 30.0)  # 1-based csv
    assert (b.frames, b.video.name, b.onset, b.apex, b.offset) == ((), "clip_0002.mp4", 0, 2, 4)
    assert (b.label, b.label3, b.aus) == ("happiness", "positive", "AU6+AU12")
    assert issues(report, "apex_filled") == [("synthetic/sub01", "clip_0002")]
    assert issues(report, "missing_on_disk") == [("synthetic/sub02", "clip_0003")]
    assert issues(report, "not_in_annotation") == [("synthetic/sub02", "clip_0004")]
    assert report.synthetic


def test_synthetic_needs_annotations(tmp_path) -> None:
    with pytest.raises(DatasetError, match="annotations.csv"):
        load_synthetic(tmp_path)
    (tmp_path / "annotations.csv").write_text("subject,clip\nsub01,c1\n")
    with pytest.raises(DatasetError, match="lacks columns"):
        load_synthetic(tmp_path)


# --- load_dataset ---------------------------------------------------------------------------


def test_load_dataset_specs_match_loaders(roots) -> None:
    assert load_dataset(f"casme2={roots['casme2']}")[0] == load_casme2(roots["casme2"])[0]
    assert load_dataset(f"casme2+cropped={roots['casme2']}")[0] == load_casme2(roots["casme2"], cropped=True)[0]
    assert load_dataset(f"samm={roots['samm']}")[0] == load_samm(roots["samm"])[0]
    assert load_dataset(f"smic+cropped={roots['smic']}")[0] == load_smic(roots["smic"], cropped=True)[0]
    assert len(load_dataset(f"casme_sq+all={roots['casme_sq']}")[0]) == 4
    assert load_dataset(f"synthetic={roots['synthetic']}")[0] == load_synthetic(roots["synthetic"])[0]


@pytest.mark.parametrize(
    "spec",
    ["casme2", "nope=/tmp", "casme2+bogus=/tmp", "samm=/does/not/exist", "megc=casme2", "megc=lbp:/tmp", "casme2="],
)
def test_load_dataset_rejects_bad_specs(spec) -> None:
    with pytest.raises(DatasetError):
        load_dataset(spec)


def test_datasets_are_one_table() -> None:
    from train.datasets import DATASETS

    assert set(DATASETS) == {"casme2", "samm", "smic", "casme_sq", "synthetic", "megc"}
    assert DATASETS["smic"].options == {"cropped", "hs", "vis", "nir"} and not DATASETS["samm"].options
    with pytest.raises(DatasetError, match="allowed: none"):
        load_dataset("samm+cropped=/tmp")
