"""Names of environments: always valid Kubernetes names and hosts, stable, and never shared."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cibot.domain.build import BuildType
from cibot.domain.naming import (
    environment_name,
    is_dns1035_label,
    is_dns_label,
    is_dns_name,
    is_label_value,
    label_value,
    name_clash,
    preview_host,
    production_name,
    short_hash,
    slug,
)

EXAMPLES = settings(max_examples=300, deadline=None)

targets = st.text(max_size=300)
# Branch-like text: mostly the characters real branch names use, so cuts and collisions of
# near-identical names are exercised, not only random unicode.
branchy = st.text(alphabet="abcXYZ019-_./", max_size=120)
any_target = st.one_of(targets, branchy)
build_types = st.sampled_from(BuildType)
project_ids = st.from_regex(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)


def test_a_plain_branch_keeps_its_name() -> None:
    assert environment_name("shop", BuildType.BRANCH, "main") == "shop-branch-main"
    assert preview_host("shop.example.com", BuildType.BRANCH, "main") == (
        "main.branch.shop.example.com"
    )


def test_a_branch_with_a_slash_is_slugged_and_hashed() -> None:
    name = environment_name("shop", BuildType.BRANCH, "feature/login")
    assert name == f"shop-branch-feature-login-{short_hash('feature/login')}"
    assert is_dns_label(name)


def test_a_slash_and_a_dash_never_share_a_name() -> None:
    assert slug("feature/a") != slug("feature-a")
    assert slug("feature-a") == "feature-a"


def test_a_change_of_case_counts_as_a_change() -> None:
    assert slug("Feature") == f"feature-{short_hash('Feature')}"
    assert slug("Feature") != slug("feature")


def test_a_tag_with_dots_becomes_a_dns_label() -> None:
    name = environment_name("shop", BuildType.TAG, "v1.2.3")
    assert name.startswith("shop-tag-v1-2-3-")
    assert is_dns_label(name)
    assert preview_host("shop.example.com", BuildType.TAG, "v1.2.3").endswith(
        ".tag.shop.example.com"
    )


def test_a_200_character_branch_is_cut_to_63_with_a_hash() -> None:
    target = "very-long-" * 20
    name = environment_name("shop", BuildType.BRANCH, target)
    assert len(name) <= 63
    assert is_dns_label(name)
    assert name.endswith(short_hash(target))


def test_a_unicode_branch_becomes_ascii() -> None:
    name = environment_name("shop", BuildType.BRANCH, "fix/ünïcödé-😀")
    assert is_dns_label(name)
    assert name.startswith("shop-branch-fix-n-c-d-")


def test_a_branch_of_only_symbols_is_named_by_its_hash() -> None:
    assert slug("😀/!") == short_hash("😀/!")
    assert slug("") == short_hash("")


def test_production_is_named_after_the_project() -> None:
    assert production_name("shop") == "shop"


def test_a_project_id_that_is_no_dns_label_is_refused() -> None:
    with pytest.raises(ValueError, match="DNS-1035"):
        production_name("Shop_1")
    with pytest.raises(ValueError, match="DNS-1035"):
        environment_name("1shop", BuildType.BRANCH, "main")


def test_a_very_long_project_id_still_gives_distinct_short_names() -> None:
    project = "p" * 60
    a = environment_name(project, BuildType.BRANCH, "a")
    b = environment_name(project, BuildType.BRANCH, "b")
    assert a != b
    assert is_dns1035_label(a)
    assert is_dns1035_label(b)


def test_a_host_too_long_for_a_preview_label_is_refused() -> None:
    host = ".".join(["x" * 60] * 4)
    with pytest.raises(ValueError, match="no room"):
        preview_host(host, BuildType.BRANCH, "main")


def test_a_label_value_keeps_case_and_dots() -> None:
    assert label_value("v1.2.3") == "v1.2.3"
    assert label_value("Feature_X") == "Feature_X"
    assert label_value("feature/x") == f"feature-x-{short_hash('feature/x')}"


def test_slug_refuses_a_length_with_no_room_for_the_hash() -> None:
    with pytest.raises(ValueError, match="no room"):
        slug("main", 7)


@EXAMPLES
@given(build_types, any_target)
def test_any_target_gives_a_valid_name_of_at_most_63(kind: BuildType, target: str) -> None:
    name = environment_name("shop", kind, target)
    assert is_dns_label(name)
    assert is_dns1035_label(name)
    assert len(name) <= 63


@EXAMPLES
@given(project_ids, build_types, any_target)
def test_any_project_and_target_give_a_valid_name(
    project: str, kind: BuildType, target: str
) -> None:
    assert is_dns1035_label(environment_name(project, kind, target))


@EXAMPLES
@given(build_types, any_target)
def test_T9_names_are_deterministic(kind: BuildType, target: str) -> None:
    assert environment_name("shop", kind, target) == environment_name("shop", kind, target)
    assert preview_host("shop.example.com", kind, target) == preview_host(
        "shop.example.com", kind, target
    )


@EXAMPLES
@given(build_types, any_target, any_target)
def test_T9_distinct_targets_never_share_a_name(kind: BuildType, a: str, b: str) -> None:
    assume(a != b)
    assert environment_name("shop", kind, a) != environment_name("shop", kind, b)
    assert preview_host("shop.example.com", kind, a) != preview_host("shop.example.com", kind, b)
    assert label_value(a) != label_value(b)


@EXAMPLES
@given(project_ids, any_target, any_target)
def test_distinct_targets_of_a_long_project_never_share_a_name(
    project: str, a: str, b: str
) -> None:
    assume(a != b)
    assert environment_name(project, BuildType.BRANCH, a) != environment_name(
        project, BuildType.BRANCH, b
    )


@EXAMPLES
@given(any_target)
def test_a_branch_and_a_tag_of_the_same_name_never_share_a_name(target: str) -> None:
    assert environment_name("shop", BuildType.BRANCH, target) != environment_name(
        "shop", BuildType.TAG, target
    )


@EXAMPLES
@given(any_target, st.integers(min_value=8, max_value=80))
def test_T9_a_slug_fits_its_length_and_is_a_dns_label(target: str, max_len: int) -> None:
    result = slug(target, max_len)
    assert len(result) <= max_len
    assert is_dns_label(result)


@EXAMPLES
@given(any_target)
def test_a_slug_is_unchanged_only_when_the_target_already_was_one(target: str) -> None:
    assert (slug(target) == target) == (is_dns_label(target) and "--" not in target)


@EXAMPLES
@given(build_types, any_target)
def test_a_preview_host_is_a_dns_name_under_the_project_host(kind: BuildType, target: str) -> None:
    host = preview_host("shop.example.com", kind, target)
    assert is_dns_name(host)
    assert host.endswith(f".{kind.value}.shop.example.com")


@EXAMPLES
@given(any_target)
def test_a_label_value_is_always_valid(target: str) -> None:
    assert is_label_value(label_value(target))


# --- projects sharing a namespace ---------------------------------------------------------


def test_a_project_named_like_another_projects_preview_clashes_with_it() -> None:
    why = name_clash("shop", "shop-branch-main")

    assert why is not None and "'shop'" in why and "'shop-branch-main'" in why
    assert environment_name("shop", BuildType.BRANCH, "main") == "shop-branch-main"


def test_previews_of_two_projects_can_clash_without_either_production() -> None:
    why = name_clash("shop", "shop-branch")

    assert why is not None and "'shop-branch'" in why
    assert environment_name("shop", BuildType.BRANCH, "branch-x") == environment_name(
        "shop-branch", BuildType.BRANCH, "x"
    )


@pytest.mark.parametrize(("a", "b"), [("shop", "shop-web"), ("shop", "shopping"), ("a", "b")])
def test_projects_whose_names_never_meet_do_not_clash(a: str, b: str) -> None:
    assert name_clash(a, b) is None and name_clash(b, a) is None


def test_two_long_ids_hashed_under_one_stem_clash() -> None:
    stem = "a" * 54
    assert name_clash(stem + "-one", stem + "-two") is not None


@EXAMPLES
@given(project_ids, build_types, any_target)
def test_a_project_named_like_any_preview_of_another_is_caught(
    project: str, kind: BuildType, target: str
) -> None:
    other = environment_name(project, kind, target)
    assume(other != project)
    assert name_clash(project, other) is not None
    assert name_clash(other, project) is not None


@EXAMPLES
@given(
    project_ids, build_types, st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
)
def test_a_project_whose_previews_extend_anothers_prefix_is_caught(
    project: str, kind: BuildType, rest: str
) -> None:
    other = f"{project}-{kind.value}-{rest}"
    assume(is_dns1035_label(other))
    assert name_clash(project, other) is not None


@EXAMPLES
@given(
    st.tuples(project_ids, build_types, any_target), st.tuples(project_ids, build_types, any_target)
)
def test_projects_that_do_not_clash_never_share_an_object_name(
    one: tuple[str, BuildType, str], other: tuple[str, BuildType, str]
) -> None:
    (a, kind_a, target_a), (b, kind_b, target_b) = one, other
    assume(a != b and name_clash(a, b) is None)
    names_a = {a, environment_name(a, kind_a, target_a)}
    names_b = {b, environment_name(b, kind_b, target_b)}
    assert names_a.isdisjoint(names_b)
