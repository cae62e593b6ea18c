"""The registry: names, Task members and task objects resolve to the same task."""

from __future__ import annotations

import pytest

import tfprot
from tfprot.errors import LabelError
from tfprot.tasks import ProteinTask, SequenceClassification, Task, registry, task_for, task_names


def test_names_task_members_and_tasks_resolve_to_one_object():
    for member in Task:
        task = task_for(member)
        assert task is task_for(member.value) is task_for(f" {member.value.upper()} ")
        assert task == member and task == member.value and task.value == member.value
    assert task_names() == tuple(member.value for member in Task)
    assert tfprot.Task is Task


def test_an_unknown_name_is_refused_naming_the_known_ones():
    with pytest.raises(
        LabelError, match=r"Unknown task 'clasification'. Expect one of \['classification'"
    ):
        task_for("clasification")


def test_a_name_already_taken_by_another_task_is_refused(monkeypatch):
    monkeypatch.setattr(registry, "_TASKS", dict(registry._TASKS))

    class Other(SequenceClassification):
        name = "token"

    with pytest.raises(LabelError, match="'token' is taken"):
        registry.register(Other())
    assert type(task_for("token")).__name__ == "TokenClassification"


def test_a_task_that_leaves_a_method_open_cannot_be_made():
    class Incomplete(ProteinTask):
        name = "incomplete"

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()
