"""Path safety: storage keys are checked, and no key ever leaves the storage root."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grc_core.errors import InvalidKey, StorageError
from grc_core.storage.keys import MAX_KEY_LENGTH, check_key, new_key, safe_join

# --- new_key -------------------------------------------------------------------------------


def test_new_key_has_a_month_prefix_and_a_random_part() -> None:
    key = new_key(date(2026, 3, 2))
    assert re.fullmatch(r"2026/03/[0-9a-f]{32}", key), key
    assert check_key(key) == key


def test_new_key_defaults_to_today_utc() -> None:
    assert re.fullmatch(r"\d{4}/\d{2}/[0-9a-f]{32}", new_key())


def test_new_keys_are_unique() -> None:
    keys = {new_key(date(2026, 1, 1)) for _ in range(1000)}
    assert len(keys) == 1000


# --- check_key -----------------------------------------------------------------------------

GOOD = ["a", "2026/03/0123abcd", "a.b/c-d/e_f", "x" * 255, "a/" * 100 + "b", "A9.tar.gz"]


@pytest.mark.parametrize("key", GOOD)
def test_check_key_accepts_safe_keys(key: str) -> None:
    assert check_key(key) == key


BAD = {
    "empty": ("", "empty"),
    "absolute": ("/etc/passwd", "absolute"),
    "dotdot": ("..", "traversal"),
    "nested dotdot": ("2026/../../etc", "traversal"),
    "dot": ("2026/./x", "traversal"),
    "backslash": ("a\\b", "character"),
    "windows traversal": ("..\\..\\x", "character"),
    "nul": ("a\x00b", "character"),
    "newline": ("a\nb", "character"),
    "bidi override": ("a\u202eb", "character"),
    "space": ("a b", "character"),
    "non-ascii": ("café", "character"),
    "doubled slash": ("a//b", "empty segment"),
    "trailing slash": ("a/", "empty segment"),
    "hidden": ("2026/.tmp-x", "'.'"),
    "trailing dot": ("a./b", "'.'"),
    "device": ("2026/CON", "reserved"),
    "device with extension": ("nul.txt", "reserved"),
    "long segment": ("x" * 256, "longer than 255"),
    "long key": ("a/" * 256 + "b", "characters long"),
    "drive letter": ("C:/x", "character"),
    "tilde": ("~/x", "character"),
}


@pytest.mark.parametrize(("key", "why"), BAD.values(), ids=BAD.keys())
def test_check_key_refuses_unsafe_keys_and_says_why(key: str, why: str) -> None:
    with pytest.raises(InvalidKey) as caught:
        check_key(key)
    message = str(caught.value)
    assert why in message
    assert "A-Z a-z 0-9 . _ -" in message  # and what is accepted
    # The error is printable as is: no raw control or bidi character in it.
    assert not re.search(r"[\x00-\x1f\u202a-\u202e]", message)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, StorageError)


def test_check_key_refuses_non_strings() -> None:
    with pytest.raises(InvalidKey, match="must be a string"):
        check_key(b"2026/03/x")  # type: ignore[arg-type]


def test_check_key_message_of_a_huge_key_is_short() -> None:
    with pytest.raises(InvalidKey) as caught:
        check_key("a" * 100_000)
    assert len(str(caught.value)) < 400


def test_max_key_length_is_inclusive() -> None:
    key = ("a" * 200 + "/") * 2 + "a" * (MAX_KEY_LENGTH - 402)
    assert len(key) == MAX_KEY_LENGTH
    assert check_key(key) == key
    with pytest.raises(InvalidKey):
        check_key(key + "a")


# --- safe_join -----------------------------------------------------------------------------


def test_safe_join_builds_the_path_under_the_resolved_root(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "2026/03/abc") == tmp_path.resolve() / "2026" / "03" / "abc"


def test_safe_join_refuses_a_symlink_leading_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "2026")
    with pytest.raises(InvalidKey, match="outside the storage root"):
        safe_join(root, "2026/03/abc")


def test_safe_join_refuses_a_file_symlink_leading_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret").write_text("s")
    os.symlink(tmp_path / "secret", root / "blob")
    with pytest.raises(InvalidKey):
        safe_join(root, "blob")


def test_safe_join_works_through_a_symlinked_root(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "link")
    assert safe_join(tmp_path / "link", "a/b") == real.resolve() / "a" / "b"


# Text biased towards the dangerous: separators, dots, NUL, controls, bidi, unicode lookalikes.
_dangerous = st.sampled_from(
    ["/", "\\", ".", "..", "\x00", "\n", "\u202e", "\u2215", "\uff0e", "~", ":", "%2e", " "]
)
_hostile_text = st.lists(st.one_of(_dangerous, st.text(max_size=6)), max_size=20).map("".join)


# Valid keys, generated as such: most random text is refused by check_key before the root
# is even looked at, so the property below would hardly ever reach the path it checks.
_SAFE = "ABXYZabxyz0189_-"
_valid_segment = st.builds(
    lambda first, middle, last: first + middle + last,
    st.sampled_from(_SAFE),
    st.text(alphabet=_SAFE + ".", max_size=18),
    st.sampled_from(_SAFE) | st.just(""),
)
#: Names planted in the root by the property test: links out of the store, inside it, a loop.
_PLANTED = st.sampled_from(["out", "inside", "loop", "file", "out2"])
_valid_key = st.one_of(
    st.lists(_valid_segment | _PLANTED, min_size=1, max_size=6).map("/".join),
    st.dates().map(new_key),
)


@st.composite
def _near_valid_key(draw: st.DrawFn) -> str:
    """A valid key with one dangerous piece spliced in somewhere."""
    key = draw(_valid_key)
    at = draw(st.integers(min_value=0, max_value=len(key)))
    return key[:at] + draw(_dangerous | st.sampled_from(["/..", "../", "//", "/"])) + key[at:]


def _plant(root: Path, outside: Path) -> None:
    """Symbolic links inside the store, as a careless administrator or an attacker leaves."""
    if not (root / "out").is_symlink():
        outside.mkdir(exist_ok=True)
        (root / "real").mkdir(exist_ok=True)
        (outside / "secret").write_text("s")
        os.symlink(outside, root / "out")  # a directory outside
        os.symlink(outside / "secret", root / "out2")  # a file outside
        os.symlink(root / "real", root / "inside")  # a directory inside: fine
        os.symlink("loop", root / "loop")  # a loop
        (root / "file").write_text("x")


@settings(max_examples=500, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.one_of(_valid_key, _valid_key, _near_valid_key(), st.text(), _hostile_text))
@example(key="../x")
@example(key="a/../../x")
@example(key="/x")
@example(key="..")
@example(key="\\..\\x")
@example(key="out/secret")
@example(key="loop/x")
def test_random_text_never_escapes_the_root(tmp_path: Path, key: str) -> None:
    root = (tmp_path / "root").resolve()
    root.mkdir(exist_ok=True)
    _plant(root, tmp_path / "outside")
    try:
        path = safe_join(root, key)
    except InvalidKey:
        through_link = key.split("/")[0] in ("out", "out2", "loop")
        try:
            check_key(key)
        except InvalidKey:
            return  # refused for its shape
        # A well-formed key is refused only when it leads out of the store.
        assert through_link, key
        return
    resolved = path.resolve()
    assert resolved != root
    assert resolved.is_relative_to(root)
    assert os.path.commonpath([root, resolved]) == str(root)
    # What was accepted is exactly the relative path it names: nothing was dropped.
    assert path.relative_to(root).as_posix() == key
    assert key.split("/")[0] not in ("out", "out2", "loop")


def test_the_property_runs_mostly_on_accepted_keys(tmp_path: Path) -> None:
    # The point of generating valid keys: most examples reach the path checks.
    accepted = 0
    strategy = st.one_of(_valid_key, _valid_key, _near_valid_key(), st.text(), _hostile_text)

    # Derandomized: the share depends on the draw (81 of 300 seen once), so a fixed draw
    # keeps the check about the strategy, not about luck.
    @settings(max_examples=300, database=None, derandomize=True)
    @given(key=strategy)
    def count(key: str) -> None:
        nonlocal accepted
        try:
            check_key(key)
            accepted += 1
        except InvalidKey:
            pass

    count()
    assert accepted >= 300 * 0.3, accepted


_segment = st.text(alphabet="abcXYZ019._-", min_size=1, max_size=12)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segments=st.lists(_segment, min_size=1, max_size=8))
def test_keys_of_the_alphabet_are_accepted_unless_dotted(
    tmp_path: Path, segments: list[str]
) -> None:
    key = "/".join(segments)
    dotted = any(s.startswith(".") or s.endswith(".") for s in segments)
    if dotted:
        with pytest.raises(InvalidKey):
            safe_join(tmp_path, key)
    else:
        assert safe_join(tmp_path, key).relative_to(tmp_path.resolve()).as_posix() == key
