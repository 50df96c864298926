"""Evaluation protocols: which clips train and which test, as index folds.

LOSO (leave one subject out) is the field's standard and the default here: no person is ever
in both the training and the test side of a fold. ``paper_split`` (protocol ``paper-split``) exists
only to reproduce the original paper's numbers and is flagged as leaking identity. ``inner_split``
carves a validation set out of a fold's *training* subjects, so epochs can be chosen without
looking at test data.
Composites need nothing special: their subjects are dataset-prefixed (``samm/006``), so LOSO
over them is LOSO over people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from train.datasets import natural_key

# A synthetic identity blended from several people (``train.synth.morph``) names them joined by this;
# holding one of them out of training holds out the blend too.
BLEND = "+"
PROTOCOLS = ("loso", "paper-split", "cross-generator")  # the names ``python -m train fit --protocol`` accepts
ALIASES = {"paper": "paper-split"}  # older spelling, still accepted by make_folds


@dataclass(frozen=True)
class Fold:
    """One train/test partition, as indices into the dataset's clip list.

    Attributes:
        name: ``loso:<subject>``, ``paper:seed<seed>`` or ``inner``.
        train, test: sorted clip indices; disjoint.
        test_subjects: subjects whose clips are in ``test``.
        identity_leak: True when a subject can be on both sides (the paper's random split).
    """

    name: str
    train: tuple[int, ...]
    test: tuple[int, ...]
    test_subjects: tuple[str, ...]
    identity_leak: bool = False


def _unique(subjects: Sequence[str]) -> list[str]:
    return sorted(set(subjects), key=natural_key)


def people_in(person: str) -> frozenset[str]:
    """The people a clip shows: one, or several for a blended identity (``a+b``)."""
    return frozenset(person.split(BLEND))


def loso(subjects: Sequence[str], persons: Sequence[str] = ()) -> list[Fold]:
    """Leave-one-subject-out folds, one per subject in natural order of the subject ids.

    Args:
        subjects: subject id of each clip (``records[i].subject``).
        persons: who each clip shows (empty: the subject is the person). A subject showing a blend of
            people (``a+b``) is never tested on, and is left out of the training side of every fold
            that tests one of its people, so no face of the held-out person is trained on.
    """
    if persons and len(persons) != len(subjects):
        raise ValueError("persons must be empty or name the person of every clip")
    shown = [people_in(p or s) for p, s in zip(persons or subjects, subjects)]
    folds = []
    for held in _unique(subjects):
        test = tuple(i for i, s in enumerate(subjects) if s == held)
        people = frozenset().union(*(shown[i] for i in test))
        if len(people) > 1 and all(len(shown[i]) > 1 for i in test):
            continue  # a blended identity: training data only
        train = tuple(i for i, s in enumerate(subjects) if s != held and not (shown[i] & people))
        folds.append(Fold(name=f"loso:{held}", train=train, test=test, test_subjects=(held,)))
    return folds


def paper_split(
    n: int, seed: int = 4, test_fraction: float = 0.2, subjects: Sequence[str] | None = None
) -> Fold:
    """The original code's single random clip-level 80/20 split (``random_state=4``).

    It reproduces the original's ``train_test_split(..., test_size=0.2, random_state=4)`` over
    ``n`` clips in loading order. The split is **not subject-independent**: the same person
    appears in training and test, so its scores overstate generalisation to new people. Use it
    only to compare with the paper; report LOSO otherwise.

    Args:
        n: number of clips.
        seed: the random state (4 in the original).
        test_fraction: share of clips held out.
        subjects: optional subject per clip, to fill ``test_subjects``.
    """
    if n < 2:
        raise ValueError("paper_split needs at least 2 clips")
    train, test = train_test_split(np.arange(n), test_size=test_fraction, random_state=seed)
    test_subjects = tuple(_unique([subjects[i] for i in test])) if subjects is not None else ()
    return Fold(
        name=f"paper:seed{seed}",
        train=tuple(sorted(int(i) for i in train)),
        test=tuple(sorted(int(i) for i in test)),
        test_subjects=test_subjects,
        identity_leak=True,
    )


def inner_split(
    subjects: Sequence[str],
    fraction: float = 0.2,
    seed: int = 0,
    within: Sequence[int] | None = None,
) -> Fold:
    """Hold out whole subjects of a training set as a validation set.

    Args:
        subjects: subject id of every clip in the dataset.
        fraction: share of the training subjects to hold out (at least one, never all).
        seed: picks which subjects, reproducibly.
        within: the clip indices to split (a fold's ``train``); all clips when omitted.

    Returns:
        A fold whose ``train`` are the clips to fit on and ``test`` the validation clips, both
        indices into ``subjects`` and both subsets of ``within``.
    """
    pool = list(range(len(subjects))) if within is None else list(within)
    people = _unique([subjects[i] for i in pool])
    if len(people) < 2:
        raise ValueError("inner_split needs clips of at least 2 training subjects")
    k = min(len(people) - 1, max(1, round(fraction * len(people))))
    order = np.random.default_rng(seed).permutation(len(people))
    held = {people[j] for j in order[:k]}
    return Fold(
        name="inner",
        train=tuple(sorted(i for i in pool if subjects[i] not in held)),
        test=tuple(sorted(i for i in pool if subjects[i] in held)),
        test_subjects=tuple(sorted(held, key=natural_key)),
    )


def cross_generator(train_people: Sequence[str], test_people: Sequence[str]) -> list[Fold]:
    """Leave-one-person-out across two data sets: train on one set's clips of every other person, test
    on the other set's clips of the held-out person.

    Only people present in both sets get a fold (a person seen in just one set can never be held out of
    training and tested on); blended identities (``a+b``) of the training set are never held out, and
    leave its training side whenever one of their people is. ``train`` indexes the training set,
    ``test`` the test set.

    Raises:
        ValueError: the two sets share no person.
    """
    shared = set(train_people) & set(test_people)
    if not shared:
        raise ValueError("the training and test data share no person to hold out")
    folds = []
    for held in sorted(shared, key=natural_key):
        # also without the blended identities that show the held-out person (``a+b``)
        train = tuple(i for i, p in enumerate(train_people) if held not in people_in(p))
        test = tuple(i for i, p in enumerate(test_people) if p == held)
        folds.append(Fold(name=f"cross:{held}", train=train, test=test, test_subjects=(held,)))
    return folds


def make_folds(
    protocol: str,
    subjects: Sequence[str],
    seed: int = 4,
    test_subjects: Sequence[str] | None = None,
    persons: Sequence[str] = (),
) -> list[Fold]:
    """Folds for a protocol name: ``loso`` (one fold per subject), ``paper-split`` (one leaky fold) or
    ``cross-generator`` (one fold per person shared with a second, test set).

    Args:
        protocol: one of :data:`PROTOCOLS` (or an alias in :data:`ALIASES`).
        subjects: subject (for cross-generator: person) of each clip.
        seed: random state of the paper split (4, as the original).
        test_subjects: cross-generator only: the person of each clip of the test set.
        persons: loso only: who each clip shows (blended identities, :func:`loso`); empty: the subjects.

    Raises:
        ValueError: unknown protocol, or too few clips/subjects for it.
    """
    name = ALIASES.get(protocol, protocol)
    if (name == "cross-generator") != (test_subjects is not None):
        raise ValueError("the cross-generator protocol, and only it, needs the test set's people")
    if name == "cross-generator":
        return cross_generator(subjects, test_subjects)
    if name == "loso":
        return loso(subjects, persons)
    if name == "paper-split":
        return [paper_split(len(subjects), seed=seed, subjects=subjects)]
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
