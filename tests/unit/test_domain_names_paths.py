import pytest

from modelyard.domain.errors import InvalidName, InvalidPath
from modelyard.domain.paths import validate_folder_path, validate_repo_path
from modelyard.domain.repo_ids import RepoRef, RepoType, validate_name_part


@pytest.mark.parametrize("name", ["gpt2", "Llama-3.1-8B", "a", "my_model.v2", "x" * 96])
def test_valid_names(name):
    assert validate_name_part(name) == name


@pytest.mark.parametrize(
    "name", ["", "x" * 97, "-lead", "trail-", ".dot", "dot.", "a--b", "a..b", "model.git", "sp ace", "é", "a/b"]
)
def test_invalid_names_say_what_is_allowed(name):
    with pytest.raises(InvalidName, match="letters, digits"):
        validate_name_part(name)


def test_repo_ref_parses_two_segments():
    ref = RepoRef.parse(RepoType.DATASET, "alice/corpus")
    assert (ref.namespace, ref.name, ref.id) == ("alice", "corpus", "alice/corpus")
    assert ref.type.url_prefix == "datasets/"
    assert RepoType.MODEL.url_prefix == ""
    with pytest.raises(InvalidName):
        RepoRef.parse(RepoType.MODEL, "single")


@pytest.mark.parametrize("path", ["a.txt", "dir/sub/file.bin", ".gitattributes", "weird name (1).md"])
def test_valid_paths(path):
    assert validate_repo_path(path) == path


@pytest.mark.parametrize(
    "path", ["", "/abs", "../escape", "a/../b", "a//b", "./a", "a/.", "dir/", "back\\slash", "nul\x00", ".git/config"]
)
def test_invalid_paths(path):
    with pytest.raises(InvalidPath):
        validate_repo_path(path)


def test_folder_path_accepts_trailing_slash():
    assert validate_folder_path("data/") == "data"
    with pytest.raises(InvalidPath):
        validate_folder_path("../data/")
