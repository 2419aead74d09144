"""A job's ``if`` (``workflows.conditions``): GitHub's status functions over the direct needs'
final statuses, the implicit ``success() &&``, and the expressions refused at load time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows import conditions
from workflows.conditions import And, Call, Literal, Not, Or


def runs(expression: str, needs: list[str], *, cancelled: bool = False) -> bool:
    return conditions.parse(expression).evaluate(needs=needs, cancelled=cancelled)


# (needs, cancelled) -> success(), failure(), always(), cancelled()
TRUTH_TABLE = [
    ([], False, True, False, True, False),
    ([], True, False, False, True, True),
    (["success"], False, True, False, True, False),
    (["success", "success"], False, True, False, True, False),
    (["success", "success"], True, False, False, True, True),
    (["success", "failure"], False, False, True, True, False),
    (["failure"], True, False, True, True, True),
    # A need skipped because its own need failed is not a failure of this job's needs.
    (["success", "skipped"], False, False, False, True, False),
    (["skipped"], False, False, False, True, False),
    (["cancelled"], False, False, False, True, False),
    (["cancelled", "failure"], True, False, True, True, True),
]


@pytest.mark.parametrize(
    ("needs", "cancelled", "success", "failure", "always", "was_cancelled"), TRUTH_TABLE
)
def test_each_status_function_on_the_needs_final_statuses(
    needs, cancelled, success, failure, always, was_cancelled
):
    assert runs("success()", needs, cancelled=cancelled) is success
    assert runs("failure()", needs, cancelled=cancelled) is failure
    assert runs("always()", needs, cancelled=cancelled) is always
    assert runs("cancelled()", needs, cancelled=cancelled) is was_cancelled


@pytest.mark.parametrize(
    ("expression", "needs", "cancelled", "expected"),
    [
        ("!cancelled()", ["failure"], False, True),
        ("!cancelled()", ["success"], True, False),
        ("!success()", ["failure"], False, True),
        ("success() || failure()", ["failure"], False, True),
        ("success() || failure()", ["skipped"], False, False),
        ("failure() || cancelled()", ["success"], True, True),
        ("failure() && !cancelled()", ["failure"], True, False),
        ("always() && !cancelled()", ["skipped"], False, True),
        # && binds tighter than ||: success() || (failure() && cancelled())
        ("success() || failure() && cancelled()", ["success"], False, True),
        ("(success() || failure()) && cancelled()", ["success"], False, False),
        ("!!always()", [], True, True),
        ("!(failure() || cancelled())", ["success"], False, True),
        ("always() && false", [], False, False),
        ("cancelled() || true", ["failure"], False, True),
    ],
)
def test_combinations_follow_the_usual_precedence(expression, needs, cancelled, expected):
    assert runs(expression, needs, cancelled=cancelled) is expected


@pytest.mark.parametrize(
    ("expression", "needs", "cancelled", "expected"),
    [
        # No status function: GitHub's implicit success() && (...)
        ("true", ["success"], False, True),
        ("true", ["failure"], False, False),
        ("true", [], True, False),
        ("true || false", ["skipped"], False, False),
        ("false", ["success"], False, False),
        ("!false", ["success"], False, True),
    ],
)
def test_an_expression_without_a_status_function_also_needs_success(
    expression, needs, cancelled, expected
):
    condition = conditions.parse(expression)
    assert not condition.checks_status
    assert condition.expression == And(Call("success"), condition.written)
    assert condition.evaluate(needs=needs, cancelled=cancelled) is expected


def test_an_expression_with_a_status_function_is_evaluated_as_written():
    condition = conditions.parse("!cancelled() && true")
    assert condition.checks_status
    assert condition.expression == condition.written
    assert condition.evaluate(needs=["failure"], cancelled=False) is True


def test_the_default_runs_when_every_need_succeeded():
    assert conditions.DEFAULT == "success()"
    assert runs(conditions.DEFAULT, ["success", "success"])
    assert not runs(conditions.DEFAULT, ["success", "failure"])


@pytest.mark.parametrize(
    "text", ["${{ failure() }}", "${{failure()}}", "  ${{ failure() }}  ", "\tfailure()\n"]
)
def test_the_github_wrapper_and_whitespace_are_accepted(text):
    condition = conditions.parse(text)
    assert condition.written == Call("failure")
    assert condition.source == text.strip()
    assert str(condition) == text.strip()


def test_a_need_status_that_is_not_final_is_refused():
    condition = conditions.parse("success()")
    with pytest.raises(ValueError, match="'running' is not final"):
        condition.evaluate(needs=["success", "running"], cancelled=False)
    with pytest.raises(ValueError, match="'queued' is not final"):
        condition.evaluate(needs=["queued"], cancelled=False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty expression"),
        ("   ", "empty expression"),
        ("${{ }}", "empty expression"),
        ("success", "expected '(' after success"),
        ("success(", "expected ')' after success"),
        ("success(x)", "take no arguments"),
        ("success(1)", "numbers are not supported"),
        ("foo()", "unknown function foo()"),
        ("SUCCESS()", "unknown function SUCCESS()"),
        ("github", "unknown name 'github'"),
        ("github.ref == 'refs/heads/main'", "contexts such as github.ref are not supported"),
        ("success() == true", "comparisons are not supported"),
        ("'main'", "strings are not supported"),
        ("success() & failure()", "use && or ||"),
        ("success() &&", "unexpected end of expression"),
        ("&& success()", "unexpected '&&' at position 0"),
        ("(success()", "expected ')'"),
        ("success())", "unexpected ')' at position 9"),
        ("success() failure()", "unexpected 'failure' at position 10"),
        ("()", "unexpected ')' at position 1"),
        ("!", "unexpected end of expression"),
        ("${{ success() }} && ${{ failure() }}", "must enclose the whole expression"),
        ("success() }}", "must enclose the whole expression"),
        ("success() && " * 100 + "true", "expression too long"),
    ],
)
def test_what_is_not_an_expression_is_refused_with_the_reason(text, message):
    with pytest.raises(ValueError) as raised:
        conditions.parse(text)
    assert message in str(raised.value)


@pytest.mark.parametrize("value", [None, True, 1, ["success()"]])
def test_only_text_is_parsed(value):
    with pytest.raises(ValueError, match="must be a string"):
        conditions.parse(value)


def test_deep_parentheses_within_the_token_limit_parse():
    depth = conditions.MAX_TOKENS // 2 - 2
    assert runs("(" * depth + "always()" + ")" * depth, [], cancelled=True)


# Properties ------------------------------------------------------------------------------------

expressions = st.recursive(
    st.sampled_from([Call(name) for name in conditions.FUNCTIONS])
    | st.builds(Literal, st.booleans()),
    lambda children: (
        st.builds(Not, children)
        | st.builds(And, children, children)
        | st.builds(Or, children, children)
    ),
    max_leaves=12,
)
need_lists = st.lists(st.sampled_from(sorted(conditions.NEED_STATUSES)), max_size=4)


def reference(expression, needs, cancelled) -> bool:
    """The semantics, restated plainly."""
    if isinstance(expression, Literal):
        return expression.value
    if isinstance(expression, Not):
        return not reference(expression.operand, needs, cancelled)
    if isinstance(expression, And):
        return reference(expression.left, needs, cancelled) and reference(
            expression.right, needs, cancelled
        )
    if isinstance(expression, Or):
        return reference(expression.left, needs, cancelled) or reference(
            expression.right, needs, cancelled
        )
    return {
        "success": not cancelled and all(status == "success" for status in needs),
        "failure": "failure" in needs,
        "cancelled": cancelled,
        "always": True,
    }[expression.function]


def mentions_a_function(expression) -> bool:
    return any(name + "()" in str(expression) for name in conditions.FUNCTIONS)


@given(expressions)
def test_printing_an_expression_and_parsing_it_back_gives_the_same_tree(expression):
    assert conditions.parse(str(expression)).written == expression
    assert conditions.parse("${{ " + str(expression) + " }}").written == expression


@given(expressions, need_lists, st.booleans())
def test_evaluation_matches_the_semantics_with_the_implicit_success(expression, needs, cancelled):
    expected = reference(expression, needs, cancelled)
    if not mentions_a_function(expression):
        expected = expected and reference(Call("success"), needs, cancelled)
    condition = conditions.parse(str(expression))
    assert condition.evaluate(needs=needs, cancelled=cancelled) is expected
