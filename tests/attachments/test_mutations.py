"""Mutated genuine documents: always "stored, identical" or "refused by a named rule".

Bytes flipped, files cut or extended, bytes inserted, packages re-zipped with lying headers
(declared sizes, CRCs, methods, flags): whatever the damage, the attachment service either
stores the exact bytes it was given or refuses them with one line naming a rule — never an
exception of another kind, never a row, blob or temporary file left behind.

``GRC_MUTATION_EXAMPLES`` sets how many mutants are tried per database (default 120); a long
run: ``GRC_MUTATION_EXAMPLES=5000 pytest tests/attachments/test_mutations.py``.
"""

from __future__ import annotations

import functools
import io
import os
import zipfile
from pathlib import Path

import hostile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from grc_core.errors import AttachmentRefused
from grc_core.files.rules import RULE_NAMES, rule_of
from grc_core.models import Attachment
from grc_core.services import attachments, exchanges

EXAMPLES = int(os.environ.get("GRC_MUTATION_EXAMPLES", "120"))
SEEDS = {
    "compte-rendu.docx": hostile.docx,
    "devis.xlsx": hostile.xlsx,
    "réunion.odt": hostile.odt,
    "devis.pdf": hostile.pdf,
    "photo.jpg": lambda: hostile.photo(size=(32, 24)),
    "plan.png": lambda: hostile.photo("PNG", size=(32, 24)),
    "logo.gif": hostile.gif,
}


@functools.cache
def seed(name: str) -> bytes:
    return SEEDS[name]()


flips = st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), min_size=1, max_size=8)
mutations = st.one_of(
    st.tuples(st.just("flip"), flips),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("insert"), st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=16))),
    st.tuples(
        st.just("rezip"),
        st.tuples(
            st.integers(0, 100),
            st.sampled_from(["size", "crc", "method", "flags", "raw"]),
            st.integers(0, 2**32 - 1),
        ),
    ),
)


def mutate(data: bytes, mutation: tuple) -> bytes:
    kind, argument = mutation
    if kind == "flip":
        out = bytearray(data)
        for where, mask in argument:
            out[min(int(where * len(out)), len(out) - 1)] ^= mask
        return bytes(out)
    if kind == "truncate":
        return data[: int(argument * len(data))]
    if kind == "append":
        return data + argument
    if kind == "insert":
        where, extra = argument
        cut = int(where * len(data))
        return data[:cut] + extra + data[cut:]
    index, field, value = argument
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return data + value.to_bytes(4, "little")
    entries = hostile.entries_of(data)
    entry = entries[index % len(entries)]
    if field == "size":
        entry.declared_size = value
    elif field == "crc":
        entry.crc = value
    elif field == "method":
        entry.method = value % 100
    elif field == "flags":
        entry.flags = value & 0xFFFF
    else:
        raw = bytearray(entry.stored())
        if raw:
            raw[value % len(raw)] ^= 0x5A
        entry.raw = bytes(raw)
    return hostile.raw_zip(entries)


def state(world, root: Path) -> tuple[int, list[Path]]:
    world.session.flush()
    count = world.session.scalar(select(func.count()).select_from(Attachment))
    return count, sorted(p for p in root.rglob("*") if p.is_file())


def test_mutants_are_stored_identical_or_refused_by_a_named_rule(
    world, session, backends, tmp_path
):
    exchange = exchanges.create_exchange(
        session, world.alice, subject="Visite", start=world.at(), action="meeting",
        company_id=world.acme.id,
    )  # fmt: skip
    spool = tmp_path / "spool"
    spool.mkdir()
    root = Path(backends.default.root)
    outcomes: dict[str, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(name=st.sampled_from(sorted(SEEDS)), mutation=mutations)
    def check(name: str, mutation: tuple) -> None:
        data = mutate(seed(name), mutation)
        before = state(world, root)
        try:
            stored = attachments.attach(
                session, world.alice, backends, io.BytesIO(data), name,
                exchange_id=exchange.id, spool_dir=spool,
            )  # fmt: skip
        except AttachmentRefused as error:
            rule = rule_of(error)
            assert rule in RULE_NAMES, error
            assert str(error).startswith(f"refused by rule {rule}: ")
            assert "\n" not in str(error)
            assert state(world, root) == before
            outcomes[rule] = outcomes.get(rule, 0) + 1
        else:
            _, stream = attachments.open_attachment(session, world.alice, backends, stored.id)
            with stream:
                assert stream.read() == data
            outcomes["stored"] = outcomes.get("stored", 0) + 1
        assert list(spool.iterdir()) == []

    check()
    assert sum(outcomes.values()) >= min(EXAMPLES, 20)
    assert len(outcomes) >= 3, outcomes  # the mutants reached several rules
