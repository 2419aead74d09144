"""The dashboard's assistant pages on real PostgreSQL, through Django's test client: the list
(bounded queries with many rows), an assistant's page (drawing, versions, diff), and its forms:
a new version and set-latest really change the assistant; bad input shows the error next to its
field and changes nothing."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.urls import reverse

from assistants import services
from assistants.models import Assistant, AssistantVersion

pytestmark = pytest.mark.django_db


def page_url(assistant: Assistant) -> str:
    return reverse("dashboard:assistant", args=[assistant.assistant_id])


def state(assistant: Assistant) -> tuple:
    """What the forms may change: the active version and its fields, and every version."""
    row = Assistant.objects.get(pk=assistant.pk)
    versions = list(
        AssistantVersion.objects.filter(assistant_id=assistant.pk)
        .order_by("version")
        .values_list("version", "config", "context", "metadata")
    )
    return row.version, row.config, row.context, row.metadata, row.stream_version, versions


def test_a_visitor_is_sent_to_sign_in_and_non_staff_are_refused(client, django_user_model):
    url = reverse("dashboard:assistants")
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/?next={url.replace('/', '%2F')}"
    client.force_login(django_user_model.objects.create_user("ada", password="pw"))
    assert client.get(url).status_code == 403
    assistant = services.assistant_create(graph_id="agent", name="helper")
    assert client.get(page_url(assistant)).status_code == 403
    assert client.post(page_url(assistant) + "latest", {"version": "1"}).status_code == 403


def test_the_list_pages_many_assistants_with_a_bounded_number_of_queries(
    staff, django_assert_max_num_queries
):
    for number in range(120):
        services.assistant_create(graph_id="agent" if number % 2 else "chat", name=f"a-{number:03}")
    with django_assert_max_num_queries(6):
        response = staff.get(reverse("dashboard:assistants"))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("<tr data-row=") == 50
    assert "a-119" in body and "a-069" not in body  # newest first
    older = re.search(r'href="\?([^"]*after=[^"]+)"', body).group(1).replace("&amp;", "&")
    with django_assert_max_num_queries(6):
        second = staff.get(f"{reverse('dashboard:assistants')}?{older}").content.decode()
    assert second.count("<tr data-row=") == 50 and "a-069" in second and "a-119" not in second
    filtered = staff.get(reverse("dashboard:assistants"), {"graph": "chat", "name": "a-00"})
    names = re.findall(r">(a-\d{3})</a>", filtered.content.decode())
    assert names == ["a-008", "a-006", "a-004", "a-002", "a-000"]


def test_no_assistant_says_how_to_register_a_graph(staff):
    body = staff.get(reverse("dashboard:assistants")).content.decode()
    assert "langgraph.json" in body and "DURAGRAPH_GRAPHS" in body


def test_an_assistants_page_shows_its_graph_config_versions_and_a_playground_link(staff):
    assistant = services.assistant_create(
        graph_id="agent", name="helper", config={"tags": ["x"]}, context={"model": "small"}
    )
    response = staff.get(page_url(assistant))
    assert response.status_code == 200
    body = response.content.decode()
    drawing = json.loads(re.search(r'id="drawing" type="application/json">(.*?)</script>', body)[1])
    assert {"think", "respond"} <= {node["id"] for node in drawing["expanded"]["nodes"]}
    assert drawing["collapsed"] is None  # no subgraph: nothing to collapse
    assert f"{reverse('dashboard:playground')}?assistant={assistant.assistant_id}" in body
    assert "&quot;model&quot;: &quot;small&quot;" in body
    assert 'data-row="1"' in body
    assert staff.get(reverse("dashboard:assistant", args=[uuid.uuid4()])).status_code == 404


def test_a_new_version_from_the_form_becomes_the_latest(staff):
    assistant = services.assistant_create(
        graph_id="agent", name="helper", context={"model": "small"}, metadata={"team": "a"}
    )
    response = staff.post(
        page_url(assistant) + "versions",
        {"config": '{"tags": ["new"]}', "context": '{"model": "large"}', "metadata": '{"x": 1}'},
    )
    assert response.status_code == 302 and response["Location"] == page_url(assistant)
    version, config, context, metadata, _, versions = state(assistant)
    assert version == 2 and len(versions) == 2
    assert config == {"tags": ["new"], "configurable": {"model": "large"}}
    assert context == {"model": "large"}
    assert metadata == {"team": "a", "x": 1}  # merged, as the API's PATCH does
    body = staff.get(page_url(assistant)).content.decode()
    assert "Version 2 created" in body and 'data-row="2"' in body


def test_unchanged_form_values_make_a_new_version_without_refusal(staff):
    """The form shows config without ``configurable`` (it mirrors context), so sending it back
    as shown is accepted rather than refused for naming both."""
    assistant = services.assistant_create(graph_id="agent", context={"model": "small"})
    form = staff.get(page_url(assistant)).context["form"]
    assert "configurable" not in form["config"]
    assert staff.post(page_url(assistant) + "versions", form).status_code == 302
    version, config, context, *_ = state(assistant)
    assert (version, config, context) == (
        2,
        {"configurable": {"model": "small"}},
        {"model": "small"},
    )


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"config": "{not json"}, "config", "config: not valid JSON"),
        ({"context": "[1, 2]"}, "context", "context: must be a JSON object"),
        ({"metadata": '"text"'}, "metadata", "metadata: must be a JSON object"),
        (
            {"config": '{"configurable": {"a": 1}}', "context": '{"b": 2}'},
            "form",
            "Cannot specify both configurable and context",
        ),
    ],
)
def test_bad_input_for_a_new_version_shows_the_error_and_changes_nothing(
    staff, log_counter, form, field, message
):
    assistant = services.assistant_create(graph_id="agent", context={"model": "small"})
    before, events_before = state(assistant), log_counter.snapshot()
    response = staff.post(page_url(assistant) + "versions", form)
    assert response.status_code == 422
    assert message in response.context["errors"][field]
    body = response.content.decode()
    assert message in body
    if field != "form":  # next to its field, which keeps what was typed
        assert f'id="v-{field}-error"' in body
        assert form[field].replace('"', "&quot;") in body
    assert state(assistant) == before and log_counter.snapshot() == events_before


def test_set_latest_makes_a_chosen_version_active(staff):
    assistant = services.assistant_create(graph_id="agent", context={"model": "small"})
    services.assistant_update(assistant_id=assistant.assistant_id, context={"model": "large"})
    response = staff.post(page_url(assistant) + "latest", {"version": "1"})
    assert response.status_code == 302
    version, _, context, *_ = state(assistant)
    assert (version, context) == (1, {"model": "small"})


@pytest.mark.parametrize(
    ("version", "message"),
    [("7", "has no version 7"), ("zero", "Choose a version."), ("", "Choose a version.")],
)
def test_set_latest_with_an_unknown_version_shows_the_error_and_changes_nothing(
    staff, log_counter, version, message
):
    assistant = services.assistant_create(graph_id="agent")
    services.assistant_update(assistant_id=assistant.assistant_id, metadata={"v": 2})
    before, events_before = state(assistant), log_counter.snapshot()
    response = staff.post(page_url(assistant) + "latest", {"version": version})
    assert response.status_code == 422
    assert message in response.context["latest_error"]
    body = response.content.decode()
    assert 'id="l-version-error"' in body and message in body
    assert state(assistant) == before and log_counter.snapshot() == events_before


def test_the_diff_between_two_versions_shows_what_changed(staff):
    assistant = services.assistant_create(graph_id="agent", name="one", context={"model": "small"})
    services.assistant_update(
        assistant_id=assistant.assistant_id, name="two", context={"model": "large"}
    )
    response = staff.get(page_url(assistant), {"from": "1", "to": "2"})
    diff = response.context["diff"]
    assert ("file", "--- version 1") in diff and ("file", "+++ version 2") in diff
    assert ("del", '-  "name": "one"') in diff and ("add", '+  "name": "two"') in diff
    assert ("add", '+    "model": "large"') in diff
    assert '<pre class="diff" id="diff"' in response.content.decode()
    same = staff.get(page_url(assistant), {"from": "2", "to": "2"})
    assert same.context["diff"] == [] and "are the same" in same.content.decode()
    unknown = staff.get(page_url(assistant), {"from": "1", "to": "9"})
    assert unknown.status_code == 200 and "has no version 9" in unknown.context["diff_error"]
