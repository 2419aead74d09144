"""The pure parts of LangGraph custom auth: which handler runs, what an ``authenticate`` handler
is given, what its answer means, and how filters match metadata or become a search's
containment document (``accounts.custom_auth``), against the real ``langgraph_sdk.Auth``."""

from __future__ import annotations

import pytest
from django.db.models import Q
from langgraph_sdk import Auth
from rest_framework import exceptions

from accounts import custom_auth


def _auth() -> Auth:
    auth = Auth()

    @auth.authenticate
    async def authenticate(authorization: str | None) -> str:
        return "someone"

    return auth


def test_the_most_specific_handler_runs_then_wildcards_then_the_global_one():
    auth = _auth()

    @auth.on
    async def everything(ctx, value): ...

    assert custom_auth.handler_for(auth, "threads", "read") is everything

    @auth.on(resources="*", actions="read")
    async def any_read(ctx, value): ...

    assert custom_auth.handler_for(auth, "threads", "read") is any_read
    assert custom_auth.handler_for(auth, "threads", "create") is everything

    @auth.on.threads
    async def threads_any(ctx, value): ...

    assert custom_auth.handler_for(auth, "threads", "read") is threads_any

    @auth.on.threads.read
    async def thread_read(ctx, value): ...

    assert custom_auth.handler_for(auth, "threads", "read") is thread_read
    assert custom_auth.handler_for(auth, "threads", "delete") is threads_any
    assert custom_auth.handler_for(auth, "assistants", "read") is any_read
    assert custom_auth.handler_for(auth, "assistants", "create") is everything


def test_no_handler_means_none():
    assert custom_auth.handler_for(_auth(), "threads", "read") is None


def test_an_authenticate_handler_gets_the_parameters_it_names_as_langgraph_passes_them():
    async def handler(authorization, headers, path, method, query_params, path_params): ...

    names = custom_auth.named_parameters(handler)
    headers = custom_auth.headers_of(
        {"HTTP_AUTHORIZATION": "Bearer t", "HTTP_X_TEAM": "a", "CONTENT_TYPE": "x", "PATH": "/"}
    )
    assert headers == {b"authorization": b"Bearer t", b"x-team": b"a", b"content-type": b"x"}
    args = custom_auth.arguments(
        names,
        request=object(),
        headers=headers,
        path="/threads/1",
        method="GET",
        query_params={"a": "1"},
        path_params={"thread_id": "1"},
        scope={},
    )
    assert args == {
        "authorization": "Bearer t",
        "headers": headers,
        "path": "/threads/1",
        "method": "GET",
        "query_params": {"a": "1"},
        "path_params": {"thread_id": "1"},
    }
    assert custom_auth.arguments(
        {"authorization"},
        request=None,
        headers={},
        path="/",
        method="GET",
        query_params={},
        path_params={},
        scope={},
    ) == {"authorization": None}


def test_a_required_parameter_langgraph_does_not_know_is_refused_at_once():
    async def handler(authorization, tenant_header): ...

    with pytest.raises(ValueError, match="tenant_header"):
        custom_auth.named_parameters(handler)

    async def optional(authorization, extra=None): ...

    assert custom_auth.named_parameters(optional) == {"authorization"}


class _Person:
    identity = "ada"
    display_name = "Ada L."
    permissions = ("read", "write")
    team = "eng"


@pytest.mark.parametrize(
    ("answer", "permissions", "identity", "display_name"),
    [
        ("ada", (), "ada", "ada"),
        ({"identity": "ada"}, (), "ada", "ada"),
        ({"identity": "ada", "permissions": ["p"], "team": "x"}, ("p",), "ada", "ada"),
        ((["p", "q"], {"identity": "ada"}), ("p", "q"), "ada", "ada"),
        (_Person(), ("read", "write"), "ada", "Ada L."),
    ],
)
def test_what_authenticate_returns_becomes_permissions_and_a_user(
    answer, permissions, identity, display_name
):
    got_permissions, user = custom_auth.normalize(answer)
    assert got_permissions == permissions
    assert user.identity == identity
    assert user.display_name == display_name
    assert user.is_authenticated is True
    assert user["identity"] == identity


def test_a_user_keeps_its_other_fields_as_attributes_and_keys():
    _, user = custom_auth.normalize({"identity": "ada", "org": "acme"})
    assert user.org == "acme"
    assert user["org"] == "acme"
    assert dict(user)["display_name"] == "ada"
    _, person = custom_auth.normalize(_Person())
    assert person.team == "eng"


@pytest.mark.parametrize("answer", [None, 42, {"name": "no identity"}, ("a", "b", "c")])
def test_an_answer_without_identity_is_an_error(answer):
    with pytest.raises(ValueError):
        custom_auth.normalize(answer)


def test_handler_results_allow_refuse_or_filter():
    assert custom_auth.decide(None) is None
    assert custom_auth.decide(True) is None
    assert custom_auth.decide({}) is None
    assert custom_auth.decide({"owner": "a"}) == {"owner": "a"}
    with pytest.raises(exceptions.PermissionDenied):
        custom_auth.decide(False)
    with pytest.raises(custom_auth.HandlerError) as error:
        custom_auth.decide("yes")
    assert error.value.status_code == 500


@pytest.mark.parametrize(
    ("metadata", "filters", "expected"),
    [
        ({"owner": "a"}, {"owner": "a"}, True),
        ({"owner": "b"}, {"owner": "a"}, False),
        ({}, {"owner": "a"}, False),
        ({"owner": "a"}, {"owner": {"$eq": "a"}}, True),
        ({"owner": None}, {"owner": {"$eq": None}}, True),
        ({}, {"owner": {"$eq": None}}, False),
        ({"users": ["a", "b"]}, {"users": {"$contains": "a"}}, True),
        ({"users": ["a", "b"]}, {"users": {"$contains": ["a", "b"]}}, True),
        ({"users": ["a"]}, {"users": {"$contains": ["a", "c"]}}, False),
        ({"users": "a"}, {"users": {"$contains": "a"}}, False),
        ({"owner": "a", "team": "x"}, {"owner": "a", "team": "x"}, True),
        ({"owner": "a"}, {"$or": [{"owner": "a"}, {"public": True}]}, True),
        ({"public": True}, {"$or": [{"owner": "a"}, {"public": True}]}, True),
        ({"owner": "b"}, {"$or": [{"owner": "a"}, {"public": True}]}, False),
        ({"owner": "a", "t": 1}, {"$and": [{"owner": "a"}, {"t": 1}]}, True),
        ({"owner": "a"}, {"$and": [{"owner": "a"}, {"t": 1}]}, False),
        (None, None, True),
    ],
)
def test_filters_match_metadata_as_langgraph_does(metadata, filters, expected):
    assert custom_auth.matches(metadata, filters) is expected


def test_a_malformed_or_is_the_handlers_error():
    with pytest.raises(custom_auth.HandlerError):
        custom_auth.matches({}, {"$or": [{"a": 1}]})


@pytest.mark.parametrize(
    ("filters", "document"),
    [
        ({"owner": "a"}, {"owner": "a"}),
        ({"owner": {"$eq": "a"}}, {"owner": "a"}),
        ({"users": {"$contains": "a"}}, {"users": ["a"]}),
        ({"users": {"$contains": ["a", "b"]}}, {"users": ["a", "b"]}),
        ({"$and": [{"owner": "a"}, {"team": "x"}]}, {"owner": "a", "team": "x"}),
        ({"$or": [{"owner": "a"}, {"public": True}]}, None),
        ({"owner": {"$eq": {"nested": 1}}}, None),
    ],
)
def test_filters_as_a_search_containment_document(filters, document):
    assert custom_auth.containment(filters) == document


def test_a_search_keeps_its_own_metadata_and_adds_the_filters():
    assert custom_auth.search_metadata({"topic": "a"}, {"owner": "u"}) == {
        "topic": "a",
        "owner": "u",
    }
    assert custom_auth.search_metadata({"owner": "u"}, {"owner": "u"}) == {"owner": "u"}
    assert custom_auth.search_metadata(None, None) is None
    with pytest.raises(custom_auth.NothingMatches):
        custom_auth.search_metadata({"owner": "v"}, {"owner": "u"})
    # What one containment document cannot say becomes a condition on the column.
    alternatives = custom_auth.search_metadata({}, {"$or": [{"a": 1}, {"b": 2}]})
    assert alternatives == Q(metadata__contains={"a": 1}) | Q(metadata__contains={"b": 2})
    with pytest.raises(custom_auth.HandlerError):
        custom_auth.search_metadata({}, {"$or": [{"a": 1}]})
