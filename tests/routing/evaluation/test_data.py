"""Loading the routing JSONL format: typed rows, null costs and scores, clear errors, model-name resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchpoint.routing.evaluation.data import (
    DataError,
    costed_models,
    load_rows,
    mean_cost,
    mean_score,
    models_in,
    resolve_model,
    rows_with,
)

LINES = [
    '{"id": "a", "dataset": "d", "prompt": "p1", "scores": {"x": 1, "y": 0.5}, "cost": {"x": 0.002, "y": null}}',
    "",
    '{"id": "b", "prompt": "p2", "scores": {"x": 0, "y": null, "z": 1}, "meta": {"k": 1}}',
]


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_rows_are_typed_and_tolerate_nulls(tmp_path: Path) -> None:
    rows = load_rows(_write(tmp_path, LINES))
    assert [r.id for r in rows] == ["a", "b"]
    assert rows[0].scores == {"x": 1.0, "y": 0.5} and rows[0].cost == {"x": 0.002, "y": None}
    assert rows[1].dataset == "rows"  # defaults to the file name
    assert rows[1].scores == {"x": 0.0, "z": 1.0}  # a null score: not evaluated
    assert rows[1].meta == {"k": 1} and rows[1].cost == {}
    assert models_in(rows) == ["x", "y", "z"]
    assert [r.id for r in rows_with(rows, ["x", "y"])] == ["a"]
    assert rows_with(rows, ["x"], need_cost=True) == [rows[0]]
    assert costed_models(rows[:1], ["x", "y"]) == ["x"]
    assert mean_score(rows, "x") == 0.5
    assert mean_cost(rows[:1], "x") == 0.002 and mean_cost(rows, "x") is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1]", "expected a JSON object"),
        ('{"scores": {"x": 1}}', "'prompt' must be a string"),
        ('{"prompt": 7, "scores": {"x": 1}}', "'prompt' must be a string, a list of chat messages"),
        ('{"prompt": [], "scores": {"x": 1}}', "'prompt' must be a string, a list of chat messages"),
        ('{"prompt": ["a", 1], "scores": {"x": 1}}', "a message is an object with a 'role'"),
        ('{"prompt": [{"content": "hi"}], "scores": {"x": 1}}', "a message is an object with a 'role'"),
        ('{"prompt": [{"role": "system", "content": "be brief"}], "scores": {"x": 1}}', "no user message with text"),
        ('{"prompt": [{"role": "user", "content": ""}], "scores": {"x": 1}}', "no user message with text"),
        ('{"prompt": "p", "scores": {}}', "'scores' must be a non-empty object"),
        ('{"prompt": "p", "scores": {"x": "high"}}', "score of 'x' must be a finite number"),
        ('{"prompt": "p", "scores": {"x": 1}, "cost": {"x": true}}', "cost of 'x' must be a finite number"),
        ('{"prompt": "p", "scores": {"x": 5}}', "score of 'x' must be between 0 and 1 \\(a quality\\), got 5"),
        ('{"prompt": "p", "scores": {"x": -0.5}}', "score of 'x' must be between 0 and 1 \\(a quality\\), got -0.5"),
        ('{"prompt": "p", "scores": {"x": 1}, "cost": [1]}', "'cost' must be an object"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, [LINES[0], line])
    with pytest.raises(DataError, match=message) as info:
        load_rows(path)
    assert f"{path}:2" in str(info.value)


def test_a_conversation_is_routed_on_its_last_user_message(tmp_path: Path) -> None:
    """A multi-turn prompt (chat messages, or MT-Bench's list of user turns) becomes the text the gateway's
    learned router reads: the last user message, content parts included."""
    lines = [
        '{"id": "m", "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Prove it."},'
        ' {"role": "assistant", "content": "Proof: ..."}, {"role": "user", "content": [{"type": "text",'
        ' "text": "Now shorter."}]}], "scores": {"x": 1}}',
        '{"id": "t", "prompt": ["Write a poem.", "Make it rhyme."], "scores": {"x": 0}}',
    ]
    rows = load_rows(_write(tmp_path, lines))
    assert [r.prompt for r in rows] == ["Now shorter.", "Make it rhyme."]
    assert rows[0].as_dict()["prompt"] == "Now shorter."  # what training reads


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_rows(tmp_path / "absent.jsonl")


def test_resolve_model() -> None:
    models = ["gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1", "mistralai/mistral-7b-chat"]
    assert resolve_model("gpt-4-1106-preview", models) == "gpt-4-1106-preview"
    assert resolve_model("Mixtral-8x7B-Instruct", models) == "mistralai/Mixtral-8x7B-Instruct-v0.1"
    assert resolve_model("MISTRAL-7B-CHAT", models) == "mistralai/mistral-7b-chat"
    with pytest.raises(KeyError, match="ambiguous"):
        resolve_model("mistral", models)
    with pytest.raises(KeyError, match="unknown model 'llama'.*gpt-4-1106-preview"):
        resolve_model("llama", models)
