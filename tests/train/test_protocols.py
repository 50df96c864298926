"""Protocols: LOSO never shares a subject across train/test; the paper split is reproducible."""

from __future__ import annotations

import pytest

from train.protocols import inner_split, loso, make_folds, paper_split

# A composite-like subject list: prefixed ids, natural order sub2 < sub10, interleaved clips.
SUBJECTS = [
    "casme2/sub10", "casme2/sub2", "samm/006", "casme2/sub2", "smic/s1",
    "samm/006", "casme2/sub10", "smic/s1", "samm/007",
]


def test_loso_one_fold_per_subject_disjoint_and_complete() -> None:
    folds = loso(SUBJECTS)
    assert [f.test_subjects[0] for f in folds] == ["casme2/sub2", "casme2/sub10", "samm/006", "samm/007", "smic/s1"]
    covered = []
    for fold in folds:
        train_subjects = {SUBJECTS[i] for i in fold.train}
        test_subjects = {SUBJECTS[i] for i in fold.test}
        assert train_subjects.isdisjoint(test_subjects)
        assert test_subjects == set(fold.test_subjects)
        assert sorted(fold.train + fold.test) == list(range(len(SUBJECTS)))
        assert not fold.identity_leak
        covered += fold.test
    assert sorted(covered) == list(range(len(SUBJECTS)))  # every clip tested exactly once
    assert folds[0].name == "loso:casme2/sub2"
    assert loso(SUBJECTS) == folds


def test_paper_split_reproduces_seed_4() -> None:
    fold = paper_split(10)
    assert fold.test == (3, 8)  # sklearn train_test_split(range(10), test_size=0.2, random_state=4)
    assert fold.train == (0, 1, 2, 4, 5, 6, 7, 9)
    assert fold.identity_leak
    big = paper_split(203)
    assert len(big.test) == 41  # the original's 41 CAS(ME)^2 validation clips
    assert big.test[:8] == (1, 6, 11, 14, 18, 33, 34, 45)
    assert paper_split(203) == big
    assert paper_split(203, seed=5).test != big.test
    assert "not subject-independent" in paper_split.__doc__


def test_paper_split_leaks_identity_when_subjects_given() -> None:
    subjects = [f"s{i % 3}" for i in range(30)]
    fold = paper_split(30, subjects=subjects)
    assert set(fold.test_subjects) & {subjects[i] for i in fold.train}


def test_inner_split_holds_out_whole_training_subjects() -> None:
    outer = loso(SUBJECTS)[0]
    inner = inner_split(SUBJECTS, fraction=0.5, seed=1, within=outer.train)
    assert set(inner.train) | set(inner.test) == set(outer.train)
    assert set(inner.train).isdisjoint(inner.test)
    assert {SUBJECTS[i] for i in inner.train}.isdisjoint(SUBJECTS[i] for i in inner.test)
    assert set(inner.test_subjects) == {SUBJECTS[i] for i in inner.test}
    assert "casme2/sub2" not in {SUBJECTS[i] for i in inner.train + inner.test}  # outer test untouched
    assert len(inner.test_subjects) == 2  # half of 4 training subjects
    assert inner_split(SUBJECTS, fraction=0.5, seed=1, within=outer.train) == inner


def test_inner_split_keeps_at_least_one_subject_each_side() -> None:
    inner = inner_split(["a", "a", "b"], fraction=0.99)
    assert len(inner.test_subjects) == 1 and inner.train
    inner = inner_split(["a", "b", "c", "d"], fraction=0.0)
    assert len(inner.test_subjects) == 1
    with pytest.raises(ValueError):
        inner_split(["a", "a"])


def test_make_folds_dispatch() -> None:
    assert make_folds("loso", SUBJECTS) == loso(SUBJECTS)
    assert make_folds("paper", SUBJECTS)[0].identity_leak
    with pytest.raises(ValueError):
        make_folds("kfold", SUBJECTS)


def test_one_protocol_vocabulary() -> None:
    from train.fit import PROTOCOLS as FIT_PROTOCOLS
    from train.protocols import PROTOCOLS

    assert FIT_PROTOCOLS is PROTOCOLS and "paper-split" in PROTOCOLS and "paper" not in PROTOCOLS
    expected = [paper_split(len(SUBJECTS), subjects=SUBJECTS)]
    assert make_folds("paper-split", SUBJECTS) == make_folds("paper", SUBJECTS) == expected
    with pytest.raises(ValueError, match="paper-split"):
        make_folds("paper_split", SUBJECTS)


def test_cross_generator_holds_out_each_shared_person_from_training() -> None:
    train_people = ["ann", "bob", "ann", "cid", "bob"]
    test_people = ["bob", "ann", "dee", "ann"]
    folds = make_folds("cross-generator", train_people, test_subjects=test_people)
    assert [f.name for f in folds] == ["cross:ann", "cross:bob"]  # cid and dee are in one set only
    for fold in folds:
        (held,) = fold.test_subjects
        assert held not in {train_people[i] for i in fold.train}
        assert {test_people[i] for i in fold.test} == {held}
    with pytest.raises(ValueError, match="share no person"):
        make_folds("cross-generator", ["a"], test_subjects=["b"])
    with pytest.raises(ValueError):
        make_folds("cross-generator", train_people)
    with pytest.raises(ValueError):
        make_folds("loso", train_people, test_subjects=test_people)


def test_blended_identities_never_train_a_fold_that_tests_one_of_their_people() -> None:
    """A morph of ann and bob (``ann+bob``, ``train.synth.morph``) is training data only, and leaves the
    training side of ann's and bob's folds, in LOSO (by the persons) and across generators."""
    subjects = ["sub1", "sub2", "sub3", "sub4", "sub1", "sub4", "sub5"]
    persons = ["ann", "bob", "cid", "ann+bob", "ann", "ann+bob", "bob+cid"]
    folds = make_folds("loso", subjects, persons=persons)
    assert [f.test_subjects for f in folds] == [("sub1",), ("sub2",), ("sub3",)]  # the blends get no fold
    by_name = {f.name: f for f in folds}
    assert by_name["loso:sub1"].train == (1, 2, 6)  # not ann+bob (3, 5); bob+cid shows no ann
    assert by_name["loso:sub2"].train == (0, 2, 4)  # neither ann+bob nor bob+cid
    assert by_name["loso:sub3"].train == (0, 1, 3, 4, 5)
    assert make_folds("loso", subjects) == loso(subjects)  # without persons: every subject as before
    assert len(loso(subjects)) == 5
    # persons equal to the subjects (what a real dataset's cache holds) change nothing
    assert loso(SUBJECTS, persons=SUBJECTS) == loso(SUBJECTS)
    with pytest.raises(ValueError, match="every clip"):
        loso(subjects, persons=persons[:3])
    cross = make_folds("cross-generator", persons, test_subjects=["ann", "bob", "cid"])
    assert [f.name for f in cross] == ["cross:ann", "cross:bob", "cross:cid"]  # no blend is held out
    assert cross[0].train == (1, 2, 6) and cross[1].train == (0, 2, 4) and cross[2].train == (0, 1, 3, 4, 5)
