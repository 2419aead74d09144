"""A job's ``if``: GitHub Actions' status expressions over the job's direct needs. Pure.

The grammar is the part of GitHub's expression language that decides *whether* a job runs once
its needs are final; contexts (``github.ref == ...``), comparisons and other functions are not
supported, and saying so at load time beats a job that silently never runs::

    expression := or
    or         := and ("||" and)*
    and        := unary ("&&" unary)*
    unary      := "!" unary | primary
    primary    := "(" expression ")" | function "(" ")" | "true" | "false"
    function   := "success" | "failure" | "always" | "cancelled"

The whole expression may be wrapped in ``${{ ... }}``, as GitHub writes it. Names are
lower case only (GitHub's are case-insensitive; one spelling keeps stored definitions uniform).

Semantics, GitHub's (docs/workflows.md), evaluated on the final statuses of the direct needs
(``success``, ``failure``, ``skipped``, ``cancelled``) and whether the run was cancelled:

- ``success()``: the run is not cancelled and every need ended ``success`` (true with no needs);
- ``failure()``: some need ended ``failure``. Only the direct needs count: a need that was
  skipped *because* its own need failed is ``skipped``, not ``failure``, so ``failure()`` is
  false for it. GitHub looks at every ancestor instead; to react to a failure further up, put
  the failing job in ``needs`` (or have the skipped job run on ``failure()`` itself);
- ``cancelled()``: the run was cancelled;
- ``always()``: true.

An expression that calls none of the status functions gets GitHub's implicit ``success() &&``
in front: ``if: true`` still waits for its needs to succeed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: The status functions, in the order error messages list them.
FUNCTIONS = ("success", "failure", "always", "cancelled")
#: The final statuses a need can have when a job's condition is evaluated.
NEED_STATUSES = frozenset({"success", "failure", "skipped", "cancelled"})
#: What a job without ``if`` runs on.
DEFAULT = "success()"

_WRAPPED = re.compile(r"\A\s*\$\{\{(?P<inner>.*)\}\}\s*\Z", re.DOTALL)
_TOKEN = re.compile(r"(?P<op>&&|\|\||!|\(|\))|(?P<word>[A-Za-z_][A-Za-z0-9_-]*)")
#: Longer expressions are refused: evaluation recurses once per operator, and no sensible ``if``
#: comes near this.
MAX_TOKENS = 200


@dataclass(frozen=True)
class Call:
    """A status function, called: ``success()``."""

    function: str

    def __str__(self) -> str:
        return f"{self.function}()"


@dataclass(frozen=True)
class Literal:
    """``true`` or ``false``."""

    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(frozen=True)
class Not:
    operand: Expression

    def __str__(self) -> str:
        return f"!{_operand(self.operand, Not, right=False)}"


@dataclass(frozen=True)
class And:
    left: Expression
    right: Expression

    def __str__(self) -> str:
        return f"{_operand(self.left, And, right=False)} && {_operand(self.right, And, right=True)}"


@dataclass(frozen=True)
class Or:
    left: Expression
    right: Expression

    def __str__(self) -> str:
        return f"{_operand(self.left, Or, right=False)} || {_operand(self.right, Or, right=True)}"


Expression = Call | Literal | Not | And | Or

# Binding strength, for printing only the parentheses that are needed.
_PRECEDENCE = {Or: 1, And: 2, Not: 3, Call: 4, Literal: 4}


def _operand(expression: Expression, parent: type, *, right: bool) -> str:
    # && and || group to the left, so a right operand of the same operator keeps its
    # parentheses: parse(str(e)) rebuilds exactly e (``a && (b && c)`` is not ``a && b && c``).
    text = str(expression)
    own, outer = _PRECEDENCE[type(expression)], _PRECEDENCE[parent]
    return f"({text})" if own < outer or (own == outer and right) else text


@dataclass(frozen=True)
class Condition:
    """A parsed ``if``: what was written, and the expression that is evaluated."""

    #: The text as written (``${{ ... }}`` included), as the definition stores it.
    source: str
    #: The expression as written, without the wrapper.
    written: Expression
    #: What :meth:`evaluate` computes: ``written``, behind an implicit ``success() &&`` when
    #: it calls no status function.
    expression: Expression

    @property
    def checks_status(self) -> bool:
        """Whether the expression calls a status function itself (no implicit ``success()``)."""
        return _calls_status(self.written)

    def evaluate(self, *, needs: Sequence[str], cancelled: bool) -> bool:
        """Whether the job runs, given how its needs ended.

        Args:
            needs: The final status of each direct need, one of :data:`NEED_STATUSES`
                (empty for a job without needs).
            cancelled: Whether the run was cancelled.

        Returns:
            True when the job should run, False when it is skipped.

        Raises:
            ValueError: A need's status is not final (``queued``, ``running``...) or unknown:
                evaluating before the needs are done would decide too early.
        """
        for status in needs:
            if status not in NEED_STATUSES:
                raise ValueError(
                    f"need status {status!r} is not final; "
                    f"expected one of {', '.join(sorted(NEED_STATUSES))}"
                )
        return _evaluate(self.expression, needs=tuple(needs), cancelled=cancelled)

    def __str__(self) -> str:
        return self.source


def _evaluate(expression: Expression, *, needs: tuple[str, ...], cancelled: bool) -> bool:
    match expression:
        case Literal(value):
            return value
        case Not(operand):
            return not _evaluate(operand, needs=needs, cancelled=cancelled)
        case And(left, right):
            return _evaluate(left, needs=needs, cancelled=cancelled) and _evaluate(
                right, needs=needs, cancelled=cancelled
            )
        case Or(left, right):
            return _evaluate(left, needs=needs, cancelled=cancelled) or _evaluate(
                right, needs=needs, cancelled=cancelled
            )
        case Call("success"):
            return not cancelled and all(status == "success" for status in needs)
        case Call("failure"):
            return any(status == "failure" for status in needs)
        case Call("cancelled"):
            return cancelled
        case Call("always"):
            return True
    raise AssertionError(f"not an expression: {expression!r}")  # pragma: no cover


def _calls_status(expression: Expression) -> bool:
    match expression:
        case Call():
            return True
        case Literal():
            return False
        case Not(operand):
            return _calls_status(operand)
        case And(left, right) | Or(left, right):
            return _calls_status(left) or _calls_status(right)
    raise AssertionError(f"not an expression: {expression!r}")  # pragma: no cover


def parse(text: str) -> Condition:
    """Parse an ``if`` expression.

    Args:
        text: The expression, optionally wrapped in ``${{ ... }}``.

    Returns:
        The condition, ready to :meth:`Condition.evaluate`.

    Raises:
        ValueError: The text is not an expression of the grammar above; the message says where
            (a 0-based character position in the unwrapped expression) and what was expected.
    """
    if not isinstance(text, str):
        raise ValueError(f"must be a string, not {type(text).__name__}")
    wrapped = _WRAPPED.match(text)
    inner = wrapped.group("inner") if wrapped else text
    if "${{" in inner or "}}" in inner:
        raise ValueError("a ${{ ... }} wrapper must enclose the whole expression, once")
    written = _Parser(inner).parse()
    expression = written if _calls_status(written) else And(Call("success"), written)
    return Condition(source=text.strip(), written=written, expression=expression)


class _Parser:
    """Recursive descent over the grammar in the module docstring."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._tokenize(text)
        self.index = 0

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, int]]:
        tokens = []
        position = 0
        while True:
            while position < len(text) and text[position].isspace():
                position += 1
            if position == len(text):
                return tokens
            match = _TOKEN.match(text, position)
            if match is None:
                character = text[position]
                hint = ""
                if character in "=<>":
                    hint = " (comparisons are not supported)"
                elif character in "&|":
                    hint = " (use && or ||)"
                elif character == ".":
                    hint = " (contexts such as github.ref are not supported)"
                elif character.isdigit():
                    hint = " (numbers are not supported)"
                elif character in "'\"":
                    hint = " (strings are not supported)"
                raise ValueError(f"unexpected {character!r} at position {position}{hint}")
            token = match.group("op") or match.group("word")
            tokens.append((token, position))
            if len(tokens) > MAX_TOKENS:
                raise ValueError(f"expression too long (more than {MAX_TOKENS} tokens)")
            position = match.end()

    def parse(self) -> Expression:
        if not self.tokens:
            raise ValueError(f"empty expression; write {DEFAULT} for the default")
        expression = self._or()
        if self.index < len(self.tokens):
            token, position = self.tokens[self.index]
            raise ValueError(f"unexpected {token!r} at position {position}")
        return expression

    def _peek(self) -> str | None:
        return self.tokens[self.index][0] if self.index < len(self.tokens) else None

    def _next(self, expected: str) -> tuple[str, int]:
        if self.index == len(self.tokens):
            raise ValueError(f"unexpected end of expression; expected {expected}")
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _or(self) -> Expression:
        expression = self._and()
        while self._peek() == "||":
            self.index += 1
            expression = Or(expression, self._and())
        return expression

    def _and(self) -> Expression:
        expression = self._unary()
        while self._peek() == "&&":
            self.index += 1
            expression = And(expression, self._unary())
        return expression

    def _unary(self) -> Expression:
        if self._peek() == "!":
            self.index += 1
            return Not(self._unary())
        return self._primary()

    def _primary(self) -> Expression:
        expected = "a status function, true, false, ! or ("
        token, position = self._next(expected)
        if token == "(":
            expression = self._or()
            closing, closing_position = self._next("')'")
            if closing != ")":
                raise ValueError(f"expected ')' at position {closing_position}, got {closing!r}")
            return expression
        if token in ("true", "false"):
            return Literal(token == "true")
        if token in FUNCTIONS:
            for punctuation in ("(", ")"):
                following, following_position = self._next(f"'{punctuation}' after {token}")
                if following != punctuation:
                    raise ValueError(
                        f"expected {token}() at position {position}; "
                        f"the status functions take no arguments"
                    )
            return Call(token)
        if token[0].isalpha() or token[0] == "_":
            if self._peek() == "(":
                raise ValueError(
                    f"unknown function {token}() at position {position}; "
                    f"expected one of {', '.join(f'{name}()' for name in FUNCTIONS)}"
                )
            raise ValueError(
                f"unknown name {token!r} at position {position}; only the status functions "
                f"({', '.join(f'{name}()' for name in FUNCTIONS)}), true and false are supported"
            )
        raise ValueError(f"unexpected {token!r} at position {position}; expected {expected}")
