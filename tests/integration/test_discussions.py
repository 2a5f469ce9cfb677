"""Discussions and pull requests through huggingface_hub 2.4: threads, comments, refs/pr/N, merges."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, HfFileSystem, hf_hub_download
from huggingface_hub.errors import BadRequestError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from helpers import user_files


def _contents(api: HfApi, rid: str) -> dict[str, bytes]:
    """The user files on main with their bytes."""
    fs = HfFileSystem(endpoint=api.endpoint, token=api.token, skip_instance_cache=True)
    return {path: fs.read_bytes(f"{rid}/{path}") for path in user_files(api.list_repo_files(rid))}


def _add(path: str, content: bytes) -> list[CommitOperationAdd]:
    return [CommitOperationAdd(path_in_repo=path, path_or_fileobj=content)]


def test_discussion_lifecycle_comment_edit_hide_rename_close(api: HfApi, bob_api: HfApi, make_repo):
    rid = make_repo({"a.txt": b"a\n"})

    opened = bob_api.create_discussion(rid, title="  Question about a.txt  ", description="Why **a**?")
    assert (opened.num, opened.title, opened.status, opened.author) == (1, "Question about a.txt", "open", "bob")
    assert not opened.is_pull_request and opened.target_branch is None and opened.conflicting_files is None
    first = opened.events[0]
    assert first.type == "comment" and first.content == "Why **a**?" and first.author == "bob"
    assert "<strong>a</strong>" in first.rendered

    reply = api.comment_discussion(rid, 1, "Because.")
    assert reply.author == "alice" and reply.content == "Because." and not reply.edited

    edited = api.edit_discussion_comment(rid, 1, reply.id, "Because *reasons*.")
    assert edited.edited and edited.content == "Because *reasons*." and "<em>reasons</em>" in edited.rendered
    again = api.edit_discussion_comment(rid, 1, reply.id, "Because reasons, v3.")
    assert again.number_of_edits == 2 and again.last_edited_by == "alice"
    assert [version["raw"] for version in again.edit_history] == ["Because *reasons*.", "Because."]
    with pytest.raises(HfHubHTTPError) as refused:  # only a comment's author edits it
        bob_api.edit_discussion_comment(rid, 1, reply.id, "rewritten by bob")
    assert refused.value.response.status_code == 403

    rude = bob_api.comment_discussion(rid, 1, "something rude")
    hidden = api.hide_discussion_comment(rid, 1, rude.id)  # a writer hides anyone's comment
    assert hidden.hidden and "rude" not in hidden.content and hidden.edit_history == []

    renamed = bob_api.rename_discussion(rid, 1, "Question about a.txt, answered")  # the author renames
    assert (renamed.old_title, renamed.new_title) == ("Question about a.txt", "Question about a.txt, answered")

    closed = bob_api.change_discussion_status(rid, 1, "closed", comment="Thanks!")
    assert closed.new_status == "closed" and closed.author == "bob"
    reopened = api.change_discussion_status(rid, 1, "open")
    assert reopened.new_status == "open"

    details = api.get_discussion_details(rid, 1)
    assert details.title == "Question about a.txt, answered" and details.status == "open"
    assert [event.type for event in details.events] == [
        "comment",
        "comment",
        "comment",
        "title-change",
        "comment",
        "status-change",
        "status-change",
    ]
    assert details.events[1].edited and details.events[2].hidden


def test_other_users_cannot_rename_or_close_a_thread(api: HfApi, bob_api: HfApi, make_repo):
    rid = make_repo()
    num = api.create_discussion(rid, title="Alice's thread").num
    for change in (
        lambda: bob_api.rename_discussion(rid, num, "Bob's now"),
        lambda: bob_api.change_discussion_status(rid, num, "closed"),
        lambda: bob_api.hide_discussion_comment(rid, num, api.get_discussion_details(rid, num).events[0].id),
    ):
        with pytest.raises(HfHubHTTPError) as refused:
            change()
        assert refused.value.response.status_code == 403


def test_bad_input_answers_4xx(api: HfApi, anon_api: HfApi, read_api: HfApi, make_repo, alice_http):
    rid = make_repo()
    with pytest.raises(BadRequestError):
        api.create_discussion(rid, title="ab")
    with pytest.raises(HfHubHTTPError) as anonymous:
        anon_api.create_discussion(rid, title="Anonymous thread")
    assert anonymous.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as read_only:
        read_api.create_discussion(rid, title="Read-only token")
    assert read_only.value.response.status_code == 403
    base = f"/api/models/{rid}/discussions"
    api.create_discussion(rid, title="The one thread")
    for method, path, body in [
        ("GET", f"{base}/0", None),
        ("GET", f"{base}/99999999999", None),
        ("GET", f"{base}/x", None),
        ("GET", f"{base}?p=-1", None),
        ("GET", f"{base}?type=weird", None),
        ("POST", base, {"title": "ok title", "description": "x", "pullRequest": "yes"}),
        ("POST", base, {"title": 5}),
        ("POST", f"{base}/2/comment", {"comment": "x"}),
        ("POST", base, {"title": "nul \u0000 title", "description": "x"}),
        ("POST", base, {"title": "fine title", "description": "nul \u0000"}),
        ("GET", f"{base}?author=a%00b", None),
        ("POST", f"{base}/1/comment/a%00b/edit", {"content": "x"}),
        ("POST", f"{base}/1/comment/0123456789abcdef01234567/hide", None),
    ]:
        response = alice_http.request(method, path, json=body)
        assert 400 <= response.status_code < 500, (method, path, response.status_code, response.text)
    assert [d.title for d in api.get_repo_discussions(rid)] == ["The one thread"]  # nothing half-written


def test_listing_filters_and_pages(api: HfApi, bob_api: HfApi, make_repo):
    rid = make_repo()
    for index in range(53):
        api.create_discussion(rid, title=f"Discussion number {index}")
    bob_pr = bob_api.create_pull_request(rid, title="Bob's pull request").num
    api.change_discussion_status(rid, 1, "closed")

    everything = list(api.get_repo_discussions(rid))  # more than one page of 50
    assert [d.num for d in everything] == list(range(54, 0, -1))
    assert len({d.num for d in everything}) == 54
    pulls = list(api.get_repo_discussions(rid, discussion_type="pull_request"))
    assert [(d.num, d.is_pull_request, d.status, d.author) for d in pulls] == [(bob_pr, True, "draft", "bob")]
    assert len(list(api.get_repo_discussions(rid, discussion_type="discussion"))) == 53
    assert [d.num for d in api.get_repo_discussions(rid, discussion_status="closed")] == [1]
    assert [d.num for d in api.get_repo_discussions(rid, author="bob")] == [bob_pr]
    assert list(api.get_repo_discussions(rid, author="nobody")) == []


def test_comment_html_is_sanitized(api: HfApi, make_repo):
    rid = make_repo()
    nasty = (
        '<script>alert(1)</script>\n\n<img src="x.png" onerror="alert(2)"> '
        '[click](javascript:alert(3)) <a href="javascript:alert(4)">x</a>'
    )
    num = api.create_discussion(rid, title="Sanitize me", description=nasty).num
    comment = api.comment_discussion(rid, num, nasty)
    for html in (comment.rendered, api.get_discussion_details(rid, num).events[0].rendered):
        lowered = html.lower()
        assert "<script" not in lowered and "onerror" not in lowered and 'href="javascript' not in lowered
    assert comment.content == nasty  # the raw Markdown is kept as written


def test_create_commit_with_create_pr_then_more_commits_and_merge(api: HfApi, make_repo, hf_cache: Path):
    rid = make_repo({"config.json": b"{}\n"})
    main_before = api.model_info(rid).sha

    info = api.create_commit(rid, _add("weights.txt", b"v1\n"), commit_message="Add weights", create_pr=True)
    assert info.pr_num == 1 and info.pr_revision == "refs/pr/1" and info.pr_url.endswith("/discussions/1")
    assert api.model_info(rid).sha == main_before  # main is untouched
    second = api.create_commit(rid, _add("weights.txt", b"v2\n"), commit_message="Better", revision="refs/pr/1")

    assert api.model_info(rid, revision="refs/pr/1").sha == second.oid
    path = hf_hub_download(rid, "weights.txt", revision="refs/pr/1", cache_dir=hf_cache)
    assert Path(path).read_bytes() == b"v2\n"
    assert HfFileSystem(endpoint=api.endpoint, token=api.token).read_bytes(f"{rid}@refs/pr/1/weights.txt") == b"v2\n"
    commits = api.list_repo_commits(rid, revision="refs/pr/1")
    assert [c.title for c in commits[:2]] == ["Better", "Add weights"]
    assert {f for f in api.list_repo_files(rid, revision="refs/pr/1")} >= {"config.json", "weights.txt"}
    refs = api.list_repo_refs(rid, include_pull_requests=True)
    assert [(r.name, r.ref, r.target_commit) for r in refs.pull_requests] == [("refs/pr/1", "refs/pr/1", second.oid)]

    details = api.get_discussion_details(rid, 1)
    assert details.status == "open" and details.target_branch == "main" and details.conflicting_files == []
    assert [(e.type, getattr(e, "summary", None)) for e in details.events if e.type == "commit"] == [
        ("commit", "Add weights"),
        ("commit", "Better"),
    ]
    assert "weights.txt" in details.diff and "+v2" in details.diff

    api.merge_pull_request(rid, 1, comment="Thanks")
    merged = api.get_discussion_details(rid, 1)
    head = api.model_info(rid).sha
    assert merged.status == "merged" and merged.merge_commit_oid == head
    assert merged.events[-1].type == "status-change" and merged.events[-1].new_status == "merged"
    assert merged.events[-1].author == "alice"
    assert _contents(api, rid) == {"config.json": b"{}\n", "weights.txt": b"v2\n"}
    squash = api.list_repo_commits(rid)[0]
    assert squash.title == "Add weights (#1)" and squash.commit_id == head
    with pytest.raises(HfHubHTTPError) as again:
        api.merge_pull_request(rid, 1)
    assert again.value.response.status_code == 409
    with pytest.raises(HfHubHTTPError):  # a merged pull request takes no more commits
        api.create_commit(rid, _add("late.txt", b"late\n"), commit_message="Late", revision="refs/pr/1")


def test_merge_after_the_base_moved_and_refused_on_conflict(api: HfApi, make_repo):
    rid = make_repo({"shared.txt": b"base\n", "other.txt": b"other\n"})
    clean = api.create_commit(rid, _add("new.txt", b"new\n"), commit_message="Add new", create_pr=True).pr_num
    clash = api.create_commit(rid, _add("shared.txt", b"theirs\n"), commit_message="Edit shared", create_pr=True)
    api.upload_file(repo_id=rid, path_or_fileobj=b"ours\n", path_in_repo="shared.txt")  # main moves

    details = api.get_discussion_details(rid, clash.pr_num)
    assert details.conflicting_files == ["shared.txt"]
    with pytest.raises(HfHubHTTPError) as conflict:
        api.merge_pull_request(rid, clash.pr_num)
    assert conflict.value.response.status_code == 409
    assert conflict.value.response.json()["filesWithConflicts"] == ["shared.txt"]
    assert api.get_discussion_details(rid, clash.pr_num).status == "open"

    api.merge_pull_request(rid, clean)
    assert _contents(api, rid) == {"shared.txt": b"ours\n", "other.txt": b"other\n", "new.txt": b"new\n"}
    head = api.list_repo_commits(rid)[0]
    assert len(api.list_repo_commits(rid)) == 4  # initial, files, ours, the squash of the pull request
    assert api.get_discussion_details(rid, clean).merge_commit_oid == head.commit_id


def test_reader_opens_a_pull_request_but_cannot_merge_it_nor_push_to_another(api: HfApi, bob_api: HfApi, make_repo):
    rid = make_repo({"a.txt": b"a\n"})
    bob_pr = bob_api.create_commit(rid, _add("b.txt", b"b\n"), commit_message="Add b", create_pr=True).pr_num
    bob_api.create_commit(rid, _add("c.txt", b"c\n"), commit_message="Add c", revision=f"refs/pr/{bob_pr}")
    with pytest.raises(HfHubHTTPError) as merge:
        bob_api.merge_pull_request(rid, bob_pr)
    assert merge.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as to_main:
        bob_api.create_commit(rid, _add("d.txt", b"d\n"), commit_message="Sneak in")
    assert to_main.value.response.status_code == 403

    alice_pr = api.create_pull_request(rid, title="Alice's own change").num
    with pytest.raises(HfHubHTTPError) as foreign:
        bob_api.create_commit(rid, _add("e.txt", b"e\n"), commit_message="Hijack", revision=f"refs/pr/{alice_pr}")
    assert foreign.value.response.status_code == 403
    api.create_commit(rid, _add("f.txt", b"f\n"), commit_message="Writer helps", revision=f"refs/pr/{bob_pr}")
    api.merge_pull_request(rid, bob_pr)
    assert set(_contents(api, rid)) == {"a.txt", "b.txt", "c.txt", "f.txt"}


def test_refused_create_pr_commit_leaves_no_pull_request(api: HfApi, make_repo):
    rid = make_repo()
    with pytest.raises(HfHubHTTPError):  # refused once the pull request's ref exists: deleting a missing file
        api.create_commit(rid, [CommitOperationDelete("missing.txt")], commit_message="Delete", create_pr=True)
    assert list(api.get_repo_discussions(rid)) == []
    assert api.list_repo_refs(rid, include_pull_requests=True).pull_requests == []


def test_discussions_can_be_disabled(api: HfApi, bob_api: HfApi, make_repo, alice_http):
    rid = make_repo()
    api.create_discussion(rid, title="Before the switch")
    response = alice_http.put(f"/api/models/{rid}/settings", json={"discussionsDisabled": True})
    assert response.status_code == 200, response.text
    with pytest.raises(HfHubHTTPError) as refused:
        bob_api.create_discussion(rid, title="After the switch")
    assert refused.value.response.status_code == 403
    alice_http.put(f"/api/models/{rid}/settings", json={"discussionsDisabled": False})
    assert [d.title for d in bob_api.get_repo_discussions(rid)] == ["Before the switch"]


def test_threads_opened_at_once_get_distinct_numbers(api: HfApi, bob_api: HfApi, make_repo):
    rid = make_repo()

    def open_one(index: int) -> int:
        client = api if index % 2 else bob_api
        if index % 3:
            return client.create_discussion(rid, title=f"Concurrent {index}").num
        return client.create_pull_request(rid, title=f"Concurrent PR {index}").num

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(open_one, range(12)))
    assert sorted(numbers) == list(range(1, 13))
    pull_refs = {r.ref for r in api.list_repo_refs(rid, include_pull_requests=True).pull_requests}
    assert pull_refs == {f"refs/pr/{d.num}" for d in api.get_repo_discussions(rid, discussion_type="pull_request")}


def test_private_repos_hide_their_discussions_and_other_types_work(
    api: HfApi, bob_api: HfApi, anon_api: HfApi, make_repo
):
    private = make_repo(private=True)
    api.create_discussion(private, title="Internal matter")
    for client in (bob_api, anon_api):
        with pytest.raises(RepositoryNotFoundError):
            list(client.get_repo_discussions(private))
        with pytest.raises(RepositoryNotFoundError):
            client.get_discussion_details(private, 1)
    with pytest.raises(RepositoryNotFoundError):
        bob_api.create_discussion(private, title="Let me in")

    dataset = make_repo({"data.csv": b"a,b\n1,2\n"}, repo_type="dataset")
    opened = bob_api.create_commit(
        dataset, _add("data.csv", b"a,b\n1,3\n"), commit_message="Fix a value", repo_type="dataset", create_pr=True
    )
    infos = api.get_paths_info(dataset, ["data.csv"], revision=opened.pr_revision, repo_type="dataset")
    assert infos[0].size == len(b"a,b\n1,3\n")
    pull = api.get_discussion_details(dataset, opened.pr_num, repo_type="dataset")
    assert pull.url.endswith(f"/datasets/{dataset}/discussions/{opened.pr_num}") and pull.author == "bob"
    api.merge_pull_request(dataset, opened.pr_num, repo_type="dataset")
    fs = HfFileSystem(endpoint=api.endpoint, token=api.token, skip_instance_cache=True)
    assert fs.read_bytes(f"datasets/{dataset}/data.csv") == b"a,b\n1,3\n"


def test_edge_cases_of_pull_requests(api: HfApi, make_repo):
    rid = make_repo({"a.txt": b"a\n"})
    with pytest.raises(RevisionNotFoundError):  # no such pull request
        api.create_commit(rid, _add("b.txt", b"b\n"), commit_message="To nowhere", revision="refs/pr/7")
    empty = api.create_pull_request(rid, title="Nothing yet").num
    with pytest.raises(BadRequestError):  # nothing to merge
        api.merge_pull_request(rid, empty)
    discussion = api.create_discussion(rid, title="Just talk").num
    with pytest.raises(BadRequestError):
        api.merge_pull_request(rid, discussion)
    with pytest.raises(RevisionNotFoundError):
        api.create_commit(rid, _add("b.txt", b"b\n"), commit_message="Not a PR", revision=f"refs/pr/{discussion}")
    with pytest.raises(RevisionNotFoundError):  # onto a branch that does not exist
        api.create_commit(rid, _add("b.txt", b"b\n"), commit_message="x", revision="other", create_pr=True)
    api.create_branch(rid, branch="dev")
    onto_dev = api.create_commit(rid, _add("d.txt", b"d\n"), commit_message="Onto dev", revision="dev", create_pr=True)
    assert api.get_discussion_details(rid, onto_dev.pr_num).target_branch == "dev"
    api.merge_pull_request(rid, onto_dev.pr_num)
    assert "d.txt" in api.list_repo_files(rid, revision="dev") and "d.txt" not in api.list_repo_files(rid)

    api.delete_repo(rid)  # threads go with their repository
    api.create_repo(rid)
    assert list(api.get_repo_discussions(rid)) == []
    assert api.create_discussion(rid, title="A fresh start").num == 1


@pytest.mark.parametrize("xet", [True, False], ids=["xet", "lfs"])
def test_large_files_in_a_pull_request(api: HfApi, make_repo, hf_cache: Path, monkeypatch, xet: bool):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", not xet)
    rid = make_repo({"a.txt": b"a\n"})
    weights = bytes(range(256)) * 4096  # 1 MiB, stored through LFS or Xet (*.safetensors)
    opened = api.upload_file(repo_id=rid, path_or_fileobj=weights, path_in_repo="model.safetensors", create_pr=True)
    assert opened.pr_revision is not None
    path = hf_hub_download(rid, "model.safetensors", revision=opened.pr_revision, cache_dir=hf_cache)
    assert Path(path).read_bytes() == weights
    [info] = api.get_paths_info(rid, ["model.safetensors"], revision=opened.pr_revision)
    assert info.lfs is not None and info.lfs.size == len(weights)
    api.merge_pull_request(rid, opened.pr_num)
    assert (
        Path(hf_hub_download(rid, "model.safetensors", cache_dir=hf_cache, force_download=True)).read_bytes() == weights
    )


@pytest.mark.parametrize("xet", [True, False], ids=["xet", "lfs"])
def test_contributor_without_write_access_opens_a_pull_request_with_large_files(
    api: HfApi, bob_api: HfApi, server, make_repo, unique_name, hf_cache: Path, monkeypatch, xet: bool
):
    """The LFS batch upload and the Xet write token are contributing: the commit decides where the bytes may go."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", not xet)
    rid = make_repo({"a.txt": b"a\n"})
    weights = bytes(range(256)) * 4096  # 1 MiB, stored through LFS or Xet (*.safetensors)
    more = bytes(reversed(range(256))) * 4096
    opened = bob_api.create_commit(
        rid, _add("model.safetensors", weights), commit_message="Add weights", create_pr=True
    )
    assert opened.pr_revision == f"refs/pr/{opened.pr_num}"
    bob_api.create_commit(rid, _add("more.safetensors", more), commit_message="More", revision=opened.pr_revision)

    with pytest.raises(HfHubHTTPError) as to_main:  # uploading is allowed, committing to a branch is not
        bob_api.create_commit(rid, _add("sneak.safetensors", more + b"!"), commit_message="Sneak in")
    assert to_main.value.response.status_code == 403
    carol = unique_name("carol")
    server.create_user(carol)
    carol_api = HfApi(endpoint=server.url, token=server.create_token(carol, "write"))
    with pytest.raises(HfHubHTTPError) as foreign:
        carol_api.create_commit(
            rid, _add("x.safetensors", weights + b"?"), commit_message="Hijack", revision=opened.pr_revision
        )
    assert foreign.value.response.status_code == 403

    for name, content in (("model.safetensors", weights), ("more.safetensors", more)):
        path = hf_hub_download(rid, name, revision=opened.pr_revision, cache_dir=hf_cache, token=api.token)
        assert Path(path).read_bytes() == content
    api.merge_pull_request(rid, opened.pr_num)
    assert _contents(api, rid) == {"a.txt": b"a\n", "model.safetensors": weights, "more.safetensors": more}
