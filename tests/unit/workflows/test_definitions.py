"""Workflow definitions (``workflows.definitions``): the reference's twelve parser cases, then
what it let through and we refuse (duplicates, cycles, unknown keys), the fields it ignored
(timeout, if) or lacked (backoff, runs-on, agent jobs), the graph queries and the documents."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows import definitions
from workflows.definitions import Backoff, DefinitionError


def parse_yaml(text: str) -> definitions.Workflow:
    return definitions.parse(textwrap.dedent(text))


def refusal(text: str, **kwargs) -> DefinitionError:
    with pytest.raises(DefinitionError) as raised:
        definitions.parse(textwrap.dedent(text), **kwargs)
    return raised.value


def document_refusal(document) -> DefinitionError:
    with pytest.raises(DefinitionError) as raised:
        definitions.parse_document(document)
    return raised.value


def workflow_of(jobs: dict, **top) -> dict:
    return {"name": "W", "on": "push", **top, "jobs": jobs}


def sh(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10)


# The reference's twelve (shared/src/yaml.rs) ----------------------------------------------------


def test_parse_simple_workflow():
    workflow = parse_yaml(
        """
        name: CI
        on: push

        jobs:
          lint:
            name: Lint
            run: cargo clippy

          test:
            name: Test
            run: cargo test

          build:
            name: Build
            needs: [lint, test]
            run: cargo build --release
        """
    )
    assert workflow.name == "CI"
    assert workflow.on == "push"
    assert [job.id for job in workflow.jobs] == ["lint", "test", "build"]
    assert workflow.jobs[2].needs == ("lint", "test")
    assert workflow.job("build").command({}) == "cargo build --release"


def test_parse_steps_workflow():
    workflow = parse_yaml(
        """
        name: Deploy
        on: push

        jobs:
          deploy:
            name: Deploy All
            steps:
              - name: Migrate DB
                run: ./migrate.sh
              - name: Deploy App
                run: ./deploy.sh
        """
    )
    assert len(workflow.jobs) == 1
    assert workflow.jobs[0].command(workflow.env) == (
        "echo '=== Migrate DB ===' && ./migrate.sh && echo '=== Deploy App ===' && ./deploy.sh"
    )


def test_invalid_dependency_errors():
    error = refusal(
        """
        name: Bad
        on: push

        jobs:
          build:
            needs: [nonexistent]
            run: echo hi
        """
    )
    assert "nonexistent" in str(error)
    assert error.field == "jobs.build.needs[0]"


def test_job_without_run_or_steps_errors():
    error = refusal(
        """
        name: Bad
        on: push

        jobs:
          empty:
            name: Empty Job
        """
    )
    assert "must have either 'run' or 'steps'" in str(error)
    assert error.field == "jobs.empty"


def test_empty_jobs_map_is_refused():
    # The reference accepted it; a workflow without a job can never do anything.
    error = refusal(
        """
        name: Empty
        on: push

        jobs: {}
        """
    )
    assert (error.field, error.message) == ("jobs", "a workflow needs at least one job")


def test_single_string_dependency():
    workflow = parse_yaml(
        """
        name: Single Dep
        on: push

        jobs:
          a:
            run: echo a
          b:
            needs: a
            run: echo b
        """
    )
    assert workflow.jobs[1].needs == ("a",)


def test_special_characters_in_job_names():
    workflow = parse_yaml(
        """
        name: Special Chars
        on: push

        jobs:
          build-linux_x86:
            name: "Build (Linux x86_64)"
            run: echo "building"
        """
    )
    assert workflow.jobs[0].id == "build-linux_x86"
    assert workflow.jobs[0].name == "Build (Linux x86_64)"


def test_labels_and_retries_parsed():
    workflow = parse_yaml(
        """
        name: Config
        on: push

        jobs:
          deploy:
            name: Deploy
            run: ./deploy.sh
            labels: [linux, aws]
            retries: 3
        """
    )
    assert workflow.jobs[0].labels == ("linux", "aws")
    assert workflow.jobs[0].retries == 3


def test_env_vars_in_command_global_first():
    workflow = parse_yaml(
        """
        name: Env
        on: push

        env:
          GLOBAL: "value"

        jobs:
          test:
            run: echo test
            env:
              LOCAL: "local_value"
        """
    )
    assert workflow.jobs[0].command(workflow.env) == (
        "export GLOBAL='value' && export LOCAL='local_value' && echo test"
    )


def test_json_format_parsing():
    workflow = definitions.parse(
        """{
            "name": "JSON Workflow",
            "on": "push",
            "jobs": {
                "test": {
                    "run": "echo test"
                }
            }
        }"""
    )
    assert workflow.name == "JSON Workflow"
    assert len(workflow.jobs) == 1


def test_malformed_yaml_returns_error():
    error = refusal("this is not valid yaml: [[[")
    assert error.field == "definition"
    assert error.message.startswith("invalid YAML: ")
    assert "line 1, column 28" in error.message  # the parser's own message


def test_shell_quote_handles_single_quotes():
    assert definitions.shell_quote("it's a test") == "'it'\\''s a test'"


def test_env_values_reach_the_shell_exactly_as_written():
    value = 'it\'s $HOME `id` "quoted" \\ ; && done'
    workflow = definitions.parse_document(
        workflow_of({"show": {"run": 'printf %s "$TRICKY"', "env": {"TRICKY": value}}})
    )
    result = sh(workflow.job("show").command(workflow.env))
    assert (result.returncode, result.stdout) == (0, value)


# Reading text ----------------------------------------------------------------------------------


def test_the_format_comes_from_the_extension_then_the_first_character():
    flow_yaml = '{name: W, on: push, jobs: {a: {run: "true"}}}'
    assert definitions.parse(flow_yaml, filename="ci.yml").name == "W"
    assert definitions.parse(flow_yaml, filename="ci.YAML").name == "W"
    assert refusal(flow_yaml).message.startswith("invalid JSON: ")
    assert refusal(flow_yaml, filename="ci.json").message.startswith("invalid JSON: ")
    assert refusal(flow_yaml, filename="workflows/ci").message.startswith("invalid JSON: ")
    json_text = json.dumps(workflow_of({"a": {"run": "true"}}))
    assert definitions.parse("\n  " + json_text, filename=None).name == "W"
    assert definitions.parse(json_text, filename="ci.json").name == "W"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must be a mapping of name, on, env and jobs, not null"),
        ("- a\n- b\n", "must be a mapping of name, on, env and jobs, not list"),
        ("just text", "must be a mapping of name, on, env and jobs, not str"),
        ("a: 1\n---\nb: 2\n", "invalid YAML: expected a single document"),
        ("[1, 2]", "must be a mapping of name, on, env and jobs, not list"),
        ('{"name": NaN}', "invalid JSON: NaN is not JSON"),
        ('{"name": "W",}', "invalid JSON: "),
    ],
)
def test_what_is_not_a_definition_is_refused_as_a_whole(text, message):
    error = refusal(text)
    assert error.field == "definition"
    assert message in error.message


def test_yaml_is_read_with_the_yaml_1_2_core_schema():
    workflow = parse_yaml(
        """
        name: W
        on: push
        env:
          ANSWER: yes
          COUNTRY: NO
          SWITCH: off
          DAY: 2024-01-01
          PORTS: 22:22
          OCTAL: 010
          HEX: 0x1F
          FLAG: true
          RATIO: 1.5
          BIG: 1e3
        jobs:
          a: {run: "true"}
        """
    )
    assert workflow.on == "push"  # YAML 1.1 reads the bare key `on` as True
    assert dict(workflow.env) == {
        "ANSWER": "yes",
        "COUNTRY": "NO",
        "SWITCH": "off",
        "DAY": "2024-01-01",
        "PORTS": "22:22",
        "OCTAL": "10",
        "HEX": "31",
        "FLAG": "true",
        "RATIO": "1.5",
        "BIG": "1000.0",
    }


def test_a_document_decoded_with_yaml_1_1_is_told_why_on_is_missing():
    error = document_refusal({"name": "W", True: "push", "jobs": {"a": {"run": "x"}}})
    assert error.field == "on"
    assert "YAML 1.1" in error.message


def test_yaml_anchors_and_merge_keys_work():
    workflow = parse_yaml(
        """
        name: W
        on: push
        jobs:
          a: &base
            run: make
            labels: [linux]
            retries: 2
          b:
            <<: *base
            needs: a
            retries: 1
        """
    )
    assert workflow.job("b").labels == ("linux",)
    assert workflow.job("b").retries == 1


@pytest.mark.parametrize(
    "text",
    [
        # "Billion laughs": each level refers to the one before ten times.
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{chr(98 + level)}: &{chr(98 + level)} [{', '.join(['*' + chr(97 + level)] * 10)}]\n"
            for level in range(6)
        ),
        "a: &a [*a]\n",  # refers to itself
    ],
)
def test_aliases_that_expand_past_the_limit_are_refused(text):
    error = refusal(text)
    assert error.field == "definition"
    assert f"more than {definitions.MAX_VALUES} values" in error.message


# Duplicates ------------------------------------------------------------------------------------


def test_duplicate_job_ids_in_yaml_are_refused():
    error = refusal(
        """
        name: W
        on: push
        jobs:
          build: {run: make}
          test: {run: pytest}
          build: {run: make all}
        """
    )
    assert str(error) == "jobs.build: duplicate job id 'build'"


def test_duplicate_job_ids_in_json_are_refused():
    text = '{"name": "W", "on": "push", "jobs": {"a": {"run": "x"}, "a": {"run": "y"}}}'
    assert str(refusal(text)) == "jobs.a: duplicate job id 'a'"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("name: W\nname: V\non: push\njobs: {a: {run: x}}\n", "name"),
        ("name: W\non: push\njobs:\n  a:\n    run: x\n    env: {K: 1, K: 2}\n", "jobs.a.env.K"),
        ('{"name": "W", "on": "push", "jobs": {"a": {"run": "x", "run": "y"}}}', "jobs.a.run"),
        (
            '{"name": "W", "on": "push", "jobs": {"a": {"steps": [{"run": "x", "env": '
            '{"K": "1", "K": "2"}}]}}}',
            "jobs.a.steps[0].env.K",
        ),
    ],
)
def test_any_duplicate_key_is_refused_where_it_is(text, field):
    error = refusal(text)
    assert error.field == field
    assert error.message.startswith("duplicate key ")


# Cycles ----------------------------------------------------------------------------------------


def test_a_two_job_cycle_is_refused_with_its_path():
    error = document_refusal(
        workflow_of({"a": {"run": "x", "needs": "b"}, "b": {"run": "y", "needs": "a"}})
    )
    assert str(error) == "jobs.a.needs: cycle a -> b -> a"


def test_a_job_that_needs_itself_is_refused():
    error = document_refusal(workflow_of({"a": {"run": "x", "needs": ["a"]}}))
    assert error.field == "jobs.a.needs[0]"
    assert "cycle a -> a" in error.message


def test_a_longer_cycle_is_named_from_where_the_search_meets_it():
    error = document_refusal(
        workflow_of(
            {
                "start": {"run": "x", "needs": "a"},
                "a": {"run": "x", "needs": ["ok", "b"]},
                "ok": {"run": "x"},
                "b": {"run": "x", "needs": "c"},
                "c": {"run": "x", "needs": ["ok", "a"]},
            }
        )
    )
    assert str(error) == "jobs.a.needs: cycle a -> b -> c -> a"


def test_a_cycle_away_from_the_first_job_is_found():
    error = document_refusal(
        workflow_of(
            {"a": {"run": "x"}, "b": {"run": "x", "needs": "c"}, "c": {"run": "x", "needs": "b"}}
        )
    )
    assert str(error) == "jobs.b.needs: cycle b -> c -> b"


def test_a_long_chain_is_no_problem():
    jobs = {"j0": {"run": "x"}} | {
        f"j{n}": {"run": "x", "needs": f"j{n - 1}"} for n in range(1, 3000)
    }
    workflow = definitions.parse_document(workflow_of(jobs))
    assert len(workflow.downstream("j0")) == 2999
    jobs["j0"] = {"run": "x", "needs": "j2999"}
    assert document_refusal(workflow_of(jobs)).field == "jobs.j0.needs"


# What each field accepts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "field", "message"),
    [
        ({"on": "push", "jobs": {"a": {"run": "x"}}}, "name", "is required"),
        ({"name": 3, "on": "push", "jobs": {"a": {"run": "x"}}}, "name", "non-empty string"),
        ({"name": " ", "on": "push", "jobs": {"a": {"run": "x"}}}, "name", "non-empty string"),
        ({"name": "W", "jobs": {"a": {"run": "x"}}}, "on", "is required"),
        ({"name": "W", "on": [], "jobs": {"a": {"run": "x"}}}, "on", "must be an event"),
        ({"name": "W", "on": 1, "jobs": {"a": {"run": "x"}}}, "on", "must be an event"),
        ({"name": "W", "on": ["push", 2], "jobs": {"a": {"run": "x"}}}, "on[1]", "string"),
        ({"name": "W", "on": "push"}, "jobs", "is required"),
        ({"name": "W", "on": "push", "jobs": ["a"]}, "jobs", "must be a mapping"),
        (
            {"name": "W", "on": "push", "jobs": {"a": {"run": "x"}}, "job": {}},
            "job",
            "unknown key 'job'",
        ),
        (workflow_of({"a": {"run": "x"}}, permissions={}), "permissions", "not supported"),
        (workflow_of({"a b": {"run": "x"}}), "jobs.a b", "job id 'a b' must start with"),
        (workflow_of({"1st": {"run": "x"}}), "jobs.1st", "must start with a letter"),
        (workflow_of({"a.b": {"run": "x"}}), "jobs.a.b", "must start with a letter"),
        (workflow_of({"a": None}), "jobs.a", "must be a mapping"),
        (workflow_of({"a": {"run": "x", "need": "b"}}), "jobs.a.need", "unknown key 'need'"),
        (workflow_of({"a": {"run": "x", "strategy": {}}}), "jobs.a.strategy", "matrix"),
        (
            workflow_of({"a": {"run": "x", "uses": "actions/checkout@v4"}}),
            "jobs.a.uses",
            "not supported",
        ),
        (workflow_of({"a": {"run": "x", "steps": [{"run": "y"}]}}), "jobs.a", "not run and steps"),
        (workflow_of({"a": {"run": ""}}), "jobs.a.run", "non-empty string"),
        (workflow_of({"a": {"run": ["x"]}}), "jobs.a.run", "non-empty string"),
        (workflow_of({"a": {"name": "", "run": "x"}}), "jobs.a.name", "non-empty string"),
        (workflow_of({"a": {"steps": []}}), "jobs.a.steps", "non-empty list"),
        (workflow_of({"a": {"steps": "x"}}), "jobs.a.steps", "non-empty list"),
        (workflow_of({"a": {"steps": [{"name": "s"}]}}), "jobs.a.steps[0].run", "is required"),
        (
            workflow_of({"a": {"steps": [{"run": "x", "if": "failure()"}]}}),
            "jobs.a.steps[0].if",
            "step conditions",
        ),
        (workflow_of({"a": {"steps": [{"uses": "x"}]}}), "jobs.a.steps[0].uses", "not supported"),
        (
            workflow_of({"a": {"run": "x"}, "b": {"run": "x", "needs": 1}}),
            "jobs.b.needs",
            "job id or a list",
        ),
        (
            workflow_of({"a": {"run": "x"}, "b": {"run": "x", "needs": ["a", 1]}}),
            "jobs.b.needs[1]",
            "must be a job id",
        ),
        (
            workflow_of({"a": {"run": "x"}, "b": {"run": "x", "needs": ["a", "a"]}}),
            "jobs.b.needs[1]",
            "already needed",
        ),
        (workflow_of({"a": {"run": "x", "labels": [""]}}), "jobs.a.labels[0]", "non-empty string"),
        (
            workflow_of({"a": {"run": "x", "labels": ["x", "x"]}}),
            "jobs.a.labels[1]",
            "listed twice",
        ),
        (
            workflow_of({"a": {"run": "x", "labels": {"x": 1}}}),
            "jobs.a.labels",
            "a label or a list",
        ),
        (
            workflow_of({"a": {"run": "x", "labels": ["l"], "runs-on": "l"}}),
            "jobs.a.runs-on",
            "not both",
        ),
        (
            workflow_of({"a": {"run": "x", "runs-on": {"group": "g"}}}),
            "jobs.a.runs-on",
            "a label or a list",
        ),
        (workflow_of({"a": {"run": "x", "retries": -1}}), "jobs.a.retries", "integer >= 0"),
        (workflow_of({"a": {"run": "x", "retries": True}}), "jobs.a.retries", "integer >= 0"),
        (workflow_of({"a": {"run": "x", "retries": 1.5}}), "jobs.a.retries", "integer >= 0"),
        (
            workflow_of({"a": {"run": "x", "env": {"A-B": "x"}}}),
            "jobs.a.env.A-B",
            "not a variable name",
        ),
        (
            workflow_of({"a": {"run": "x", "env": {"1A": "x"}}}),
            "jobs.a.env.1A",
            "not a variable name",
        ),
        (workflow_of({"a": {"run": "x", "env": {"A": None}}}), "jobs.a.env.A", "not null"),
        (workflow_of({"a": {"run": "x", "env": {"A": [1]}}}), "jobs.a.env.A", "not list"),
        (workflow_of({"a": {"run": "x", "env": ["A=1"]}}), "jobs.a.env", "must be a mapping"),
        (
            workflow_of({"a": {"run": "x"}}, env={"A; rm -rf /": "x"}),
            "env.A; rm -rf /",
            "not a variable name",
        ),
        (workflow_of({"a": {"run": "x", "timeout": 0}}), "jobs.a.timeout", "number > 0"),
        (workflow_of({"a": {"run": "x", "timeout": -5}}), "jobs.a.timeout", "number > 0"),
        (workflow_of({"a": {"run": "x", "timeout": "10m"}}), "jobs.a.timeout", "number > 0"),
        (workflow_of({"a": {"run": "x", "timeout": True}}), "jobs.a.timeout", "number > 0"),
        (workflow_of({"a": {"run": "x", "timeout": float("inf")}}), "jobs.a.timeout", "number > 0"),
        (
            workflow_of({"a": {"run": "x", "timeout-minutes": 0}}),
            "jobs.a.timeout-minutes",
            "number > 0",
        ),
        (
            workflow_of({"a": {"run": "x", "timeout": 1, "timeout-minutes": 1}}),
            "jobs.a.timeout-minutes",
            "not both",
        ),
        (workflow_of({"a": {"run": "x", "if": "github.ref"}}), "jobs.a.if", "contexts"),
        (workflow_of({"a": {"run": "x", "if": ""}}), "jobs.a.if", "empty expression"),
        (workflow_of({"a": {"run": "x", "if": None}}), "jobs.a.if", "must be a string"),
        (
            workflow_of({"a": {"agent": {"assistant": "chat"}, "env": {"A": "1"}}}),
            "jobs.a.env",
            "shell jobs",
        ),
        (workflow_of({"a": {"agent": {}}}), "jobs.a.agent.assistant", "is required"),
        (workflow_of({"a": {"agent": "chat"}}), "jobs.a.agent", "must be a mapping"),
        (
            workflow_of({"a": {"agent": {"assistant": "chat", "config": {}}}}),
            "jobs.a.agent.config",
            "unknown key",
        ),
        (
            workflow_of({"a": {"agent": {"assistant": "chat", "input": {"x": {1: "a"}}}}}),
            "jobs.a.agent.input.x",
            "keys must be strings",
        ),
        (
            workflow_of({"a": {"agent": {"assistant": "chat", "input": [b"x"]}}}),
            "jobs.a.agent.input[0]",
            "must be JSON",
        ),
        (
            workflow_of({"a": {"agent": {"assistant": "chat", "input": float("nan")}}}),
            "jobs.a.agent.input",
            "not JSON",
        ),
        (
            workflow_of({"a": {"run": "x", "agent": {"assistant": "chat"}}}),
            "jobs.a",
            "not run and agent",
        ),
    ],
)
def test_each_field_is_checked_and_the_error_names_it(document, field, message):
    error = document_refusal(document)
    assert error.field == field
    assert message in error.message
    assert str(error) == f"{field}: {error.message}"


def test_the_first_problem_in_document_order_wins():
    document = workflow_of(
        {
            "a": {"run": "x", "retries": -1, "needs": "nope"},
            "b": {"run": "x", "labels": 3},
        }
    )
    # needs is checked before retries within a job, and job a before job b
    assert document_refusal(document).field == "jobs.a.needs"
    # an invalid job id anywhere comes before any job's body
    document["jobs"]["bad id"] = {"run": "x"}
    assert document_refusal(document).field == "jobs.bad id"
    # the top-level keys come first
    del document["on"]
    assert document_refusal(document).field == "on"


def test_errors_survive_pickling():
    error = document_refusal(workflow_of({"a": {"run": "x", "retries": -1}}))
    copy_ = pickle.loads(pickle.dumps(error))
    assert (copy_.field, copy_.message, str(copy_)) == (error.field, error.message, str(error))


# The fields --------------------------------------------------------------------------------------


def test_defaults_of_a_job():
    job = definitions.parse_document(workflow_of({"a": {"run": "x"}})).job("a")
    assert job.name == "a"
    assert (job.needs, job.labels, job.retries, job.steps, job.agent) == ((), (), 0, (), None)
    assert job.backoff == Backoff("none", 0.0, 300.0)
    assert job.timeout_seconds is None
    assert job.condition == "success()"
    assert job.kind == "shell"
    assert dict(job.env) == {}


def test_runs_on_is_read_as_labels():
    workflow = definitions.parse_document(
        workflow_of(
            {"a": {"run": "x", "runs-on": "ubuntu"}, "b": {"run": "x", "runs-on": ["linux", "gpu"]}}
        )
    )
    assert workflow.job("a").labels == ("ubuntu",)
    assert workflow.job("b").labels == ("linux", "gpu")
    assert workflow.as_document()["jobs"]["b"]["labels"] == ["linux", "gpu"]


def test_a_single_label_may_be_a_string():
    job = definitions.parse_document(workflow_of({"a": {"run": "x", "labels": "linux"}})).job("a")
    assert job.labels == ("linux",)


@pytest.mark.parametrize(
    ("fields", "seconds"),
    [
        ({"timeout": 600}, 600.0),
        ({"timeout": 0.5}, 0.5),
        ({"timeout-minutes": 10}, 600.0),
        ({"timeout-minutes": 1.5}, 90.0),
    ],
)
def test_timeout_is_in_seconds(fields, seconds):
    job = definitions.parse_document(workflow_of({"a": {"run": "x", **fields}})).job("a")
    assert job.timeout_seconds == seconds


def test_env_values_are_strings():
    workflow = definitions.parse_document(
        workflow_of({"a": {"run": "x", "env": {"T": True, "F": False, "N": 3, "R": 2.5, "S": "s"}}})
    )
    assert dict(workflow.job("a").env) == {
        "T": "true",
        "F": "false",
        "N": "3",
        "R": "2.5",
        "S": "s",
    }


def test_condition_is_kept_as_written_and_decides_whether_the_job_runs():
    workflow = parse_yaml(
        """
        name: W
        on: push
        jobs:
          a: {run: x}
          cleanup:
            needs: a
            if: ${{ always() }}
            run: y
          notify:
            needs: a
            if: failure()
            run: z
          plain:
            needs: a
            if: true
            run: z
        """
    )
    assert workflow.job("cleanup").condition == "${{ always() }}"
    assert workflow.job("plain").condition == "true"
    assert workflow.job("cleanup").should_run(needs=["failure"], cancelled=True)
    assert workflow.job("notify").should_run(needs=["failure"], cancelled=False)
    assert not workflow.job("notify").should_run(needs=["success"], cancelled=False)
    assert not workflow.job("plain").should_run(needs=["failure"], cancelled=False)
    assert workflow.job("a").should_run(needs=[], cancelled=False)


# Backoff -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "backoff"),
    [
        ("none", Backoff()),
        ({"fixed": 5}, Backoff("fixed", 5.0)),
        ({"fixed": 0}, Backoff("fixed", 0.0)),
        ({"exponential": {"base": 1, "max": 60}}, Backoff("exponential", 1.0, 60.0)),
        ({"exponential": {"base": 2}}, Backoff("exponential", 2.0, 300.0)),
    ],
)
def test_backoff_shapes(value, backoff):
    workflow = definitions.parse_document(workflow_of({"a": {"run": "x", "backoff": value}}))
    assert workflow.job("a").backoff == backoff


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ("fixed", "jobs.a.backoff", "must be none, {fixed"),
        (None, "jobs.a.backoff", "must be none, {fixed"),
        ({"fixed": 1, "exponential": {"base": 1}}, "jobs.a.backoff", "must be none"),
        ({"linear": 1}, "jobs.a.backoff.linear", "unknown backoff"),
        ({"fixed": -1}, "jobs.a.backoff.fixed", "number >= 0"),
        ({"fixed": True}, "jobs.a.backoff.fixed", "number >= 0"),
        ({"exponential": 2}, "jobs.a.backoff.exponential", "must be a mapping of base and max"),
        ({"exponential": {"max": 3}}, "jobs.a.backoff.exponential.base", "is required"),
        ({"exponential": {"base": 0}}, "jobs.a.backoff.exponential.base", "number > 0"),
        ({"exponential": {"base": 5, "max": 2}}, "jobs.a.backoff.exponential.max", ">= base (5)"),
        ({"exponential": {"base": 1, "cap": 2}}, "jobs.a.backoff.exponential.cap", "unknown key"),
    ],
)
def test_backoff_shapes_refused(value, field, message):
    error = document_refusal(workflow_of({"a": {"run": "x", "backoff": value}}))
    assert (error.field, message in error.message) == (field, True)


@pytest.mark.parametrize(
    ("backoff", "delays"),
    [
        (Backoff(), [0.0, 0.0, 0.0]),
        (Backoff("fixed", 5), [5.0, 5.0, 5.0]),
        # The first retry (attempt 2) waits twice the base, as the reference's B * 2**n.
        (Backoff("exponential", 1, 60), [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]),
        (Backoff("exponential", 0.5, 3), [1.0, 2.0, 3.0]),
    ],
)
def test_backoff_delays(backoff, delays):
    assert [backoff.delay(attempt) for attempt in range(2, 2 + len(delays))] == delays


def test_backoff_delay_of_a_very_late_attempt_is_the_cap():
    assert Backoff("exponential", 1, 60).delay(5000) == 60.0


@pytest.mark.parametrize("attempt", [0, -1, True, 1.5])
def test_backoff_delay_needs_an_attempt_number(attempt):
    with pytest.raises(ValueError, match="attempt must be an int >= 1"):
        Backoff("fixed", 1).delay(attempt)


@pytest.mark.parametrize(
    "arguments", [("linear",), ("fixed", -1), ("exponential", 1, float("nan")), ("fixed", "5")]
)
def test_a_backoff_checks_itself(arguments):
    with pytest.raises(ValueError):
        Backoff(*arguments)


# Commands ----------------------------------------------------------------------------------------


def test_steps_are_labelled_by_name_then_id_then_number_and_export_their_env():
    workflow = definitions.parse_document(
        workflow_of(
            {
                "a": {
                    "env": {"J": "j"},
                    "steps": [
                        {"name": "First", "id": "one", "run": "echo 1", "env": {"S": "s"}},
                        {"id": "two", "run": "echo 2"},
                        {"run": "  echo 3  "},
                    ],
                }
            },
            env={"G": "g"},
        )
    )
    assert workflow.job("a").command(workflow.env) == (
        "export G='g' && export J='j' && export S='s' && echo '=== First ===' && echo 1"
        " && echo '=== two ===' && echo 2 && echo '=== step 3 ===' && echo 3"
    )


def test_a_step_name_with_a_quote_does_not_break_the_script():
    workflow = definitions.parse_document(
        workflow_of({"a": {"steps": [{"name": "Don't panic", "run": "echo ok"}]}})
    )
    result = sh(workflow.job("a").command(workflow.env))
    assert (result.returncode, result.stdout) == (0, "=== Don't panic ===\nok\n")


@pytest.mark.parametrize(
    "failing", ["(exit 3)", "false || (exit 3)", "true; (exit 3)", "echo one\n(exit 3)"]
)
@pytest.mark.parametrize("after", ["echo after || echo after", "true; echo after", "echo after &"])
def test_a_failing_step_stops_the_job_whatever_its_shape(failing, after):
    # Chained as they are, ``... && (exit 3) && echo banner && true; echo after`` would go on.
    workflow = definitions.parse_document(
        workflow_of({"a": {"steps": [{"run": "echo before"}, {"run": failing}, {"run": after}]}})
    )
    result = sh(workflow.job("a").command(workflow.env))
    assert result.returncode == 3
    assert "after" not in result.stdout


def test_a_trailing_comment_does_not_swallow_the_next_step():
    workflow = definitions.parse_document(
        workflow_of({"a": {"steps": [{"run": "echo one # first"}, {"run": "echo two"}]}})
    )
    result = sh(workflow.job("a").command(workflow.env))
    assert result.stdout.splitlines() == ["=== step 1 ===", "one", "=== step 2 ===", "two"]


def test_a_multi_line_run_is_a_script_after_the_exports():
    workflow = parse_yaml(
        """
        name: W
        on: push
        env: {GREETING: hello}
        jobs:
          a:
            run: |
              echo "$GREETING"
              echo world
        """
    )
    command = workflow.job("a").command(workflow.env)
    assert command == "export GREETING='hello' && echo \"$GREETING\"\necho world"
    assert sh(command).stdout == "hello\nworld\n"


# Agent jobs --------------------------------------------------------------------------------------


def test_an_agent_job_calls_an_assistant_with_an_input():
    source = {"messages": [{"role": "user", "content": "summarize"}]}
    workflow = parse_yaml(
        """
        name: W
        on: push
        jobs:
          build: {run: make}
          summarize:
            needs: build
            if: always()
            retries: 1
            labels: [gpu]
            agent:
              assistant: chat
              input: {messages: [{role: user, content: summarize}]}
        """
    )
    job = workflow.job("summarize")
    assert job.kind == "agent"
    assert job.agent == definitions.AgentCall("chat", source)
    assert job.command(workflow.env) is None
    assert (job.retries, job.labels, job.condition) == (1, ("gpu",), "always()")


def test_an_agent_job_holds_a_copy_of_its_input():
    document = workflow_of({"a": {"agent": {"assistant": "chat", "input": {"k": [1]}}}})
    workflow = definitions.parse_document(document)
    document["jobs"]["a"]["agent"]["input"]["k"].append(2)
    assert workflow.job("a").agent.input == {"k": [1]}


def test_an_agent_job_without_input():
    job = definitions.parse_document(workflow_of({"a": {"agent": {"assistant": "chat"}}})).job("a")
    assert job.agent == definitions.AgentCall("chat")
    assert job.agent.input is None


# The graph ---------------------------------------------------------------------------------------

DIAMOND = workflow_of(
    {
        "d": {"run": "x", "needs": ["b", "c"]},
        "a": {"run": "x"},
        "b": {"run": "x", "needs": "a"},
        "c": {"run": "x", "needs": "a"},
        "lone": {"run": "x"},
        "e": {"run": "x", "needs": "d"},
    }
)


def test_roots_dependents_downstream_and_upstream_of_a_diamond():
    workflow = definitions.parse_document(DIAMOND)
    assert workflow.roots() == ("a", "lone")
    assert workflow.dependents("a") == ("b", "c")
    assert workflow.dependents("b") == ("d",)
    assert workflow.dependents("e") == ()
    assert workflow.downstream("a") == ("d", "b", "c", "e")  # file order
    assert workflow.downstream("c") == ("d", "e")
    assert workflow.downstream("lone") == ()
    assert workflow.upstream("e") == ("d", "a", "b", "c")
    assert workflow.upstream("a") == ()


@pytest.mark.parametrize("query", ["job", "dependents", "downstream", "upstream"])
def test_an_unknown_job_is_a_key_error(query):
    workflow = definitions.parse_document(DIAMOND)
    with pytest.raises(KeyError):
        getattr(workflow, query)("nope")


# Documents ---------------------------------------------------------------------------------------


FULL = """
name: CI
on:
  push: {branches: [main]}
  pull_request:
env: {GLOBAL: "it's", N: 3}
jobs:
  test:
    name: Unit tests
    run: pytest
    retries: 2
    backoff: {exponential: {base: 1, max: 60}}
    timeout-minutes: 10
  build:
    needs: test
    runs-on: linux
    backoff: {fixed: 2.5}
    env: {B: "1"}
    if: ${{ success() }}
    steps:
      - {name: Build, run: make, env: {S: s}}
      - {id: check, run: make check}
  summarize:
    needs: [test, build]
    if: always()
    agent: {assistant: chat, input: {k: [1, null, true]}}
"""


def test_as_document_round_trips_and_is_json():
    workflow = definitions.parse(FULL)
    document = workflow.as_document()
    assert json.loads(json.dumps(document)) == document
    assert definitions.parse_document(document) == workflow
    assert definitions.parse(json.dumps(document)) == workflow
    assert (
        definitions.parse_document(definitions.parse_document(document).as_document()).as_document()
        == document
    )


def test_as_document_is_canonical():
    document = definitions.parse(FULL).as_document()
    assert document == {
        "name": "CI",
        "on": "push, pull_request",
        "env": {"GLOBAL": "it's", "N": "3"},
        "jobs": {
            "test": {
                "name": "Unit tests",
                "run": "pytest",
                "retries": 2,
                "backoff": {"exponential": {"base": 1, "max": 60}},
                "timeout": 600,
            },
            "build": {
                "steps": [
                    {"name": "Build", "run": "make", "env": {"S": "s"}},
                    {"id": "check", "run": "make check"},
                ],
                "needs": ["test"],
                "labels": ["linux"],
                "backoff": {"fixed": 2.5},
                "env": {"B": "1"},
                "if": "${{ success() }}",
            },
            "summarize": {
                "agent": {"assistant": "chat", "input": {"k": [1, None, True]}},
                "needs": ["test", "build"],
                "if": "always()",
            },
        },
    }
    minimal = definitions.parse_document(workflow_of({"a": {"run": "x"}}))
    assert minimal.as_document() == {"name": "W", "on": "push", "jobs": {"a": {"run": "x"}}}


@pytest.mark.parametrize(
    ("on", "display"),
    [
        ("push", "push"),
        (["push"], "push"),
        (["push", "pull_request"], "push, pull_request"),
        ({"push": {"branches": ["main"]}, "workflow_dispatch": None}, "push, workflow_dispatch"),
    ],
)
def test_on_is_display_text(on, display):
    workflow = definitions.parse_document({"name": "W", "on": on, "jobs": {"a": {"run": "x"}}})
    assert workflow.on == display


def test_a_workflow_is_frozen_and_hashable():
    workflow = definitions.parse(FULL)
    with pytest.raises(TypeError):
        workflow.env["GLOBAL"] = "changed"  # type: ignore[index]
    with pytest.raises(TypeError):
        workflow.job("build").env.update(B="2")  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        workflow.name = "other"  # type: ignore[misc]
    assert json.dumps(workflow.env) == '{"GLOBAL": "it\'s", "N": "3"}'
    assert {job: job.id for job in workflow.jobs}
    assert copy.deepcopy(workflow) == workflow
    assert pickle.loads(pickle.dumps(workflow)) == workflow
    assert pickle.loads(pickle.dumps(workflow)).downstream("test") == ("build", "summarize")


# The original's API body -----------------------------------------------------------------------

SAMPLE = {
    "name": "ci.yml",
    "trigger": "on: push",
    "jobs": [
        {
            "id": "unit-tests",
            "name": "Unit Tests",
            "status": "queued",
            "command": "echo 'Running unit tests' && sleep 2",
            "duration_secs": None,
            "started_at": None,
            "depends_on": [],
            "output": None,
            "required_labels": [],
            "max_retries": 0,
            "attempt": 0,
            "metadata": {},
            "ports": [],
            "children": None,
            "collapsed": False,
        },
        {"id": "lint", "name": "Lint", "command": "echo lint", "depends_on": []},
        {
            "id": "build",
            "name": "Build",
            "status": "success",
            "command": "echo build",
            "depends_on": ["unit-tests", "lint"],
            "required_labels": ["linux"],
            "max_retries": 2,
            "attempt": 1,
        },
    ],
}


def test_the_runtime_json_body_is_read():
    workflow = definitions.from_runtime_json(SAMPLE)
    assert (workflow.name, workflow.on) == ("ci.yml", "push")
    assert workflow.roots() == ("unit-tests", "lint")
    build = workflow.job("build")
    assert (build.name, build.run, build.needs) == ("Build", "echo build", ("unit-tests", "lint"))
    assert (build.labels, build.retries) == (("linux",), 2)
    # A compiled command runs as it is.
    assert (
        workflow.job("unit-tests").command(workflow.env) == "echo 'Running unit tests' && sleep 2"
    )


def test_the_runtime_json_body_name_defaults_to_the_id():
    body = {"name": "W", "trigger": "push", "jobs": [{"id": "a", "command": "x"}]}
    assert definitions.from_runtime_json(body).job("a").name == "a"
    body["id"] = "ignored"
    assert definitions.from_runtime_json(body).name == "W"


@pytest.mark.parametrize(
    ("trigger", "on"),
    [
        ("on: push", "push"),
        ("on: [push, pull_request]", "push, pull_request"),
        ("manual", "manual"),
    ],
)
def test_the_runtime_trigger_loses_its_on_prefix(trigger, on):
    body = {"name": "W", "trigger": trigger, "jobs": [{"id": "a", "command": "x"}]}
    assert definitions.from_runtime_json(body).on == on


def change(body: dict, index: int | None = None, **fields) -> dict:
    body = copy.deepcopy(body)
    if index is None:
        body.update(fields)
    else:
        body["jobs"][index].update(fields)
    return body


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ([], "definition", "must be a mapping"),
        ({k: v for k, v in SAMPLE.items() if k != "trigger"}, "trigger", "is required"),
        ({k: v for k, v in SAMPLE.items() if k != "name"}, "name", "is required"),
        (change(SAMPLE, owner="me"), "owner", "unknown key"),
        (change(SAMPLE, jobs={}), "jobs", "must be a list"),
        (change(SAMPLE, jobs=[]), "jobs", "at least one job"),
        (change(SAMPLE, 1, id="unit-tests"), "jobs[1].id", "duplicate job id 'unit-tests'"),
        (change(SAMPLE, 1, id="a b"), "jobs[1].id", "must start with a letter"),
        (change(SAMPLE, 1, steps=[]), "jobs[1].steps", "unknown key"),
        (change(SAMPLE, 1, children=[{"id": "x"}]), "jobs[1].children", "not supported"),
        (change(SAMPLE, 2, depends_on=["lint", "nope"]), "jobs[2].depends_on[1]", "'nope'"),
        (change(SAMPLE, 2, max_retries=-1), "jobs[2].max_retries", "integer >= 0"),
        (change(SAMPLE, 2, required_labels="linux"), None, None),
        (change(SAMPLE, 2, required_labels=[1]), "jobs[2].required_labels[0]", "non-empty string"),
        (change(SAMPLE, 2, command=""), "jobs[2].command", "non-empty string"),
        (
            change(SAMPLE, 0, depends_on=["build"]),
            "jobs[0].depends_on",
            "cycle unit-tests -> build -> unit-tests",
        ),
        ({"name": "W", "trigger": "push", "jobs": [{"id": "a"}]}, "jobs[0]", "must have either"),
    ],
)
def test_runtime_json_errors_name_the_body_fields(body, field, message):
    if field is None:
        definitions.from_runtime_json(body)
        return
    with pytest.raises(DefinitionError) as raised:
        definitions.from_runtime_json(body)
    assert raised.value.field == field
    assert message in raised.value.message


# Properties --------------------------------------------------------------------------------------


@st.composite
def dags(draw, min_jobs=1):
    """A random DAG: job i needs some of the jobs before it, written in a shuffled order."""
    count = draw(st.integers(min_value=min_jobs, max_value=10))
    ids = [f"j{n}" for n in range(count)]
    needs = {
        job_id: draw(st.lists(st.sampled_from(ids[:n]), unique=True)) if n else []
        for n, job_id in enumerate(ids)
    }
    order = draw(st.permutations(ids))
    return {job_id: {"run": f"echo {job_id}", "needs": needs[job_id]} for job_id in order}


def reachable(jobs: dict, start: str) -> set[str]:
    """Every job that needs *start*, directly or not, computed naively."""
    found = set()
    changed = True
    while changed:
        changed = False
        for job_id, body in jobs.items():
            if job_id not in found and any(n == start or n in found for n in body["needs"]):
                found.add(job_id)
                changed = True
    return found


@given(dags())
def test_any_dag_parses_and_downstream_is_what_depends_on_the_job(jobs):
    workflow = definitions.parse_document(workflow_of(jobs))
    assert [job.id for job in workflow.jobs] == list(jobs)
    assert workflow.roots() == tuple(job_id for job_id, body in jobs.items() if not body["needs"])
    for job_id in jobs:
        downstream = workflow.downstream(job_id)
        assert job_id not in downstream
        assert set(downstream) == reachable(jobs, job_id)
        assert list(downstream) == [other for other in jobs if other in downstream]
        assert set(workflow.dependents(job_id)) <= set(downstream)
    assert definitions.parse_document(workflow.as_document()) == workflow


@given(dags(min_jobs=2), st.data())
def test_a_back_edge_is_always_reported_as_a_cycle(jobs, data):
    edges = [(job_id, need) for job_id, body in jobs.items() for need in body["needs"]]
    if not edges:  # no edge to turn back: chain two jobs first
        first, second = list(jobs)[:2]
        jobs[first]["needs"] = [second]
        edges = [(first, second)]
    # job needs need; need (or anything upstream of it... here: need itself) now needs job.
    job_id, need = data.draw(st.sampled_from(edges))
    jobs[need]["needs"] = [*jobs[need]["needs"], job_id]
    with pytest.raises(DefinitionError) as raised:
        definitions.parse_document(workflow_of(jobs))
    error = raised.value
    assert error.message.startswith("cycle ")
    path = error.message.removeprefix("cycle ").split(" -> ")
    assert path[0] == path[-1]
    assert error.field == f"jobs.{path[0]}.needs"
    for current, following in zip(path, path[1:], strict=False):
        assert following in jobs[current]["needs"]
