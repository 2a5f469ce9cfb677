"""Bad input is a clean BadRequest (400), never an unexpected exception (500): the pure parsing helpers."""

import json

import pygit2
import pytest

from modelyard.config import Settings
from modelyard.domain.cards import front_matter, lenient_front_matter
from modelyard.domain.commit_ops import parse_ndjson
from modelyard.domain.errors import BadRequest, InvalidPath
from modelyard.domain.json_input import check_unicode, loads
from modelyard.domain.paths import validate_repo_path
from modelyard.gitstore.repository import GitRepository
from modelyard.services import preupload, signing
from modelyard.services.hub import Hub
from modelyard.services.repos import parse_visibility

DEEP_YAML = "---\na: " + "[" * 5000 + "]" * 5000 + "\n---\n# Card\n"
# 300 bytes, 9**9 values once the aliases are expanded.
ALIAS_BOMB = (
    "---\na: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
    + "---\n"
)


# --- JSON ------------------------------------------------------------------------------------------------
def test_loads_parses_valid_unicode():
    assert loads('{"path": "dossier/\u00e9t\u00e9 \U0001f600.txt", "n": [1, {"k": "v"}]}', "The body") == {
        "path": "dossier/\u00e9t\u00e9 \U0001f600.txt",
        "n": [1, {"k": "v"}],
    }
    assert loads(b'{"pair": "\\ud83d\\ude00"}', "The body") == {"pair": "\U0001f600"}  # an escaped pair is fine


@pytest.mark.parametrize(
    "document",
    [
        b'{"path": "\\ud800"}',
        b'{"\\udfff": 1}',
        b'{"a": [[{"b": ["ok", "x\\ud800y"]}]]}',
        b'["\\ude00\\ud83d"]',  # a pair in the wrong order is two lone halves
    ],
)
def test_loads_refuses_lone_surrogates(document):
    with pytest.raises(BadRequest, match=r"The body contains text that is not valid Unicode: '\\ud"):
        loads(document, "The body")


def test_check_unicode_walks_keys_values_and_deep_lists():
    check_unicode({"a": ["b", {"c": 1.5, "d": None, "e": True}]}, "x")
    value: object = "\udc80"
    for _ in range(10_000):  # deeper than the recursion limit: the walk is iterative
        value = [value]
    with pytest.raises(BadRequest, match="not valid Unicode"):
        check_unicode(value, "x")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"not json", "is not valid JSON"),
        (b"\xff\xfe\xfa", "is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "is not valid JSON|nested too deeply"),
    ],
)
def test_loads_refuses_invalid_documents(document, message):
    with pytest.raises(BadRequest, match=message):
        loads(document, "The body")


def test_commit_body_with_a_lone_surrogate_is_a_bad_request():
    header = json.dumps({"key": "header", "value": {"summary": "s"}}).encode()
    line = b'{"key": "deletedFile", "value": {"path": "a\\ud800.txt"}}'
    with pytest.raises(BadRequest, match=r"Line 2 of the commit body contains text that is not valid Unicode"):
        parse_ndjson(header + b"\n" + line)
    with pytest.raises(BadRequest, match=r"Line 1 of the commit body contains"):
        parse_ndjson(b'{"key": "header", "value": {"summary": "\\udbff"}}')


# --- Cards -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (DEEP_YAML, "nested too deeply"),
        ("---\nreleased: 2024-02-30\n---\n", "Invalid value.*day is out of range"),
        ("---\nbits: !!int 0b\n---\n", "Invalid value"),
        ("---\n? [a, b]\n: c\n---\n", "Invalid YAML"),
        ("---\nblob: !!binary /w==\n---\n", "Binary values"),
        ("---\na: &a [1, *a]\n---\n", "contains itself"),
        (ALIAS_BOMB, "holds more than 1000000 values"),
    ],
)
def test_front_matter_turns_every_parsing_failure_into_bad_request(text, message):
    with pytest.raises(BadRequest, match=message):
        front_matter(text)
    assert lenient_front_matter(text) == {}


def test_front_matter_keeps_ordinary_aliases():
    card = front_matter("---\nbase: &b {lr: 0.1, steps: [1, 2]}\nrun1: *b\nruns: [*b, *b]\n---\n")
    assert card["run1"] == card["runs"][1] == {"lr": 0.1, "steps": [1, 2]}


def test_lenient_front_matter_never_raises(monkeypatch):
    def explode(_text):
        raise MemoryError("whatever the parser does")

    monkeypatch.setattr("modelyard.domain.cards.yaml.safe_load", explode)
    assert lenient_front_matter("---\nlicense: mit\n---\n") == {}


# --- Paths -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        ".git",
        "sub/.git/config",
        ".GIT/hooks/x",
        "a/.Git",
        "a/b/.gIt/c",
        ".git./x",
        "a/.git. . ",
        ".git ",
        "git~1/x",
        "a/GIT~1",
        "git~1 .",
        ".git::$INDEX_ALLOCATION/x",
        "a/.git:stream",
    ],
)
def test_git_reserved_names_are_refused_anywhere(path):
    with pytest.raises(InvalidPath, match="reserved by git"):
        validate_repo_path(path)


@pytest.mark.parametrize("path", [".gitattributes", ".gitignore", "a/.github/x.yml", "git~2", ".git x", ".gitx"])
def test_names_that_only_look_like_git_are_fine(path):
    assert validate_repo_path(path) == path


@pytest.mark.parametrize("char", [chr(code) for code in [*range(0x20), 0x7F]])
def test_control_characters_are_refused(char):
    with pytest.raises(InvalidPath, match="control characters"):
        validate_repo_path(f"dir/a{char}b.txt")


def test_paths_with_unicode_and_spaces_stay_valid():
    assert validate_repo_path("données/été 2024 (copie).csv") == "données/été 2024 (copie).csv"


def test_build_tree_turns_git_path_errors_into_invalid_path(tmp_path):
    repo = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    blob = str(repo.create_blob(b"x"))
    git = GitRepository(repo, tmp_path / "r.git")
    assert git.build_tree(None, {"ok/file.txt": blob}, [], [])
    with pytest.raises(InvalidPath, match=r"'sub/\.git/config'"):
        git.build_tree(None, {"ok.txt": blob, "sub/.git/config": blob}, [], [])


# --- Settings, preupload, signing ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("visibility", "private", "expected"),
    [(None, None, None), (None, True, True), (None, False, False), ("private", None, True), ("public", True, False)],
)
def test_parse_visibility(visibility, private, expected):
    assert parse_visibility(visibility, private) is expected


@pytest.mark.parametrize(("visibility", "private"), [(None, "yes"), (None, "false"), (None, 5), (None, 0), (5, None)])
def test_parse_visibility_refuses_non_booleans(visibility, private):
    with pytest.raises(BadRequest, match=r"private|visibility"):
        parse_visibility(visibility, private)


@pytest.mark.parametrize("git_ignore", ["!", "\\", "*.tmp\nok/\\"])
def test_invalid_git_ignore_patterns_from_the_client_are_skipped(git_ignore):
    spec = preupload._ignore_spec(None, f"{git_ignore}\n*.tmp\n")  # type: ignore[arg-type]  # no repo read
    assert spec is not None and spec.match_file("a.tmp") and not spec.match_file("a.txt")


def test_signing_key_is_read_once_per_hub(tmp_path, monkeypatch):
    hub = Hub.open(Settings(data_dir=tmp_path))
    key = signing.signing_key(hub)
    assert len(key) == 64

    def no_database():
        raise AssertionError("signing_key must not query the database again")

    monkeypatch.setattr(hub.db, "session", no_database)
    assert signing.signing_key(hub) == key
