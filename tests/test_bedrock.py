"""Amazon Bedrock: the Converse engine and the Titan embedder against a local stub of bedrock-runtime on 127.0.0.1
(boto3 with an endpoint URL and dummy credentials), and a seed Bedrock config run unchanged, with no secret left
in the run dir, the log or the report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fakes.bedrock_stub import BedrockStub, aws_env
from wattbench.backends.base import AuthError, GenerationRequest
from wattbench.backends.registry import create_backend
from wattbench.errors import ConfigError, WattbenchError

SCOUT = "us.meta.llama4-scout-17b-instruct-v1:0"


@pytest.fixture
def stub(monkeypatch):
    aws_env(monkeypatch)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never wait on an instance role here
    server = BedrockStub()
    yield server
    server.close()


def _engine(stub: BedrockStub, **options):
    settings = {"model": SCOUT, "region": "us-east-2", "endpoint_url": stub.url, "backoff_s": 0.05, **options}
    return create_backend("bedrock", **settings)


def _ask(text: str = "What is PUE?") -> GenerationRequest:
    return GenerationRequest(messages=[{"role": "system", "content": "Answer briefly."},
                                       {"role": "user", "content": text}], max_tokens=50)  # fmt: skip


def test_an_answer_its_tokens_and_what_was_sent(stub: BedrockStub):
    (done,) = _engine(stub).generate([_ask()])
    assert done.error is None and json.loads(done.text)["answer_value"] == 42
    assert (done.prompt_tokens, done.completion_tokens) == (3, 8) and done.finish_reason == "stop"  # the usage
    operation, model, body = stub.calls[0]
    assert (operation, model) == ("converse", SCOUT)
    assert body["system"] == [{"text": "Answer briefly."}] and body["inferenceConfig"]["maxTokens"] == 50
    assert body["messages"] == [{"role": "user", "content": [{"text": "What is PUE?"}]}]
    assert "AKIASTUBSTUBSTUB0000" in stub.headers[0]["Authorization"]  # signed with the chain's credentials


def test_throttling_and_5xx_are_retried_a_validation_error_is_not(stub: BedrockStub):
    stub.script = ["throttle", "5xx", "ok", "validation"]
    engine = _engine(stub, max_attempts=3)
    retried, refused = engine.generate([_ask()]), engine.generate([_ask()])
    assert retried[0].error is None and retried[0].attempts == 3 and len(retried[0].notes) == 2
    assert "ThrottlingException" in retried[0].notes[0] and "InternalServerException" in retried[0].notes[1]
    assert refused[0].error == "ValidationException: The model returned the following errors: bad input"
    assert refused[0].attempts == 1 and len(stub.calls) == 4  # 3 for the first request, 1 for the second


def test_a_hanging_endpoint_is_bounded_by_the_request_timeout(stub: BedrockStub):
    stub.script = ["hang", "hang"]
    started = time.monotonic()
    (done,) = _engine(stub, request_timeout_s=0.5, max_attempts=2).generate([_ask()])
    assert done.error == "gave up after 2 attempts; last: no reply within 0.5 s (generation.request_timeout_s)"
    assert time.monotonic() - started < 2.5  # two attempts of 0.5 s and a short backoff, not the 5 s hang


def test_requests_run_at_most_max_concurrent_at_once(stub: BedrockStub):
    stub.close()
    slow = BedrockStub(["hang"] * 6, hang_s=1.0)  # long enough that the first three overlap on a busy machine
    try:
        done = _engine(slow, max_concurrent=3).generate([_ask(f"q{i}") for i in range(6)])
    finally:
        slow.close()
    assert all(c.error is None for c in done) and len(done) == 6
    assert slow.most_in_flight == 3  # six requests, never more than three at the stub at once


def test_missing_credentials_and_region_are_one_line_errors(monkeypatch, tmp_path: Path):
    aws_env(monkeypatch)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    with pytest.raises(AuthError, match="no AWS credentials found"):
        create_backend("bedrock", model=SCOUT, region="us-east-2")
    aws_env(monkeypatch)
    with pytest.raises(ConfigError, match="bedrock.region: no AWS region"):
        create_backend("bedrock", model=SCOUT)
    with pytest.raises(ConfigError, match="no AWS profile named 'nobody'"):
        create_backend("bedrock", model=SCOUT, region="us-east-2", profile="nobody")


def test_titan_embeddings_build_an_index_that_rebuilds_when_the_embedder_changes(stub: BedrockStub, wattbot: Path,
                                                                                 tmp_path: Path):  # fmt: skip
    import shutil

    from wattbench.config import BedrockConfig, RetrievalConfig
    from wattbench.retrieval.index import build_index, load_index
    from wattbench.retrieval.search import Retriever

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(wattbot / "corpus" / "strubell2019.json", corpus)

    def config(**settings) -> RetrievalConfig:
        made = RetrievalConfig(index_path=str(tmp_path / "index.sqlite"), **settings)
        made._bedrock = BedrockConfig(region="us-east-2", endpoint_url=stub.url)
        return made

    titan = config(embedder="bedrock", embedding_dim=256)
    first = build_index(titan, corpus)
    embedded = [body for operation, _, body in stub.calls if operation == "invoke"]
    assert first.action == "built" and len(embedded) == first.n_chunks > 10
    assert {b["dimensions"] for b in embedded} == {256} and all(b["normalize"] for b in embedded)
    assert build_index(titan, corpus).action == "reused" and len(stub.calls) == len(embedded)  # nothing re-embedded
    # A retriever opened with a local embedder in its config still embeds queries as the index was built.
    retriever = Retriever(load_index(first.path), config())
    assert retriever.index.manifest["embedder"] == "bedrock:amazon.titan-embed-text-v2:0"
    assert retriever.index.manifest["embedding_dim"] == 256
    hits = retriever.search("carbon emissions of training NLP models", k=3, method="dense")
    assert hits and stub.calls[-1][0] == "invoke" and stub.calls[-1][2]["dimensions"] == 256
    resized = build_index(config(embedder="bedrock", embedding_dim=1024), corpus)
    assert resized.action == "rebuilt" and "embedding_dim changed (256 → 1024)" in resized.reason
    local = build_index(config(), corpus)
    assert local.action == "rebuilt" and "embedder changed" in local.reason
    with pytest.raises(ConfigError, match="Titan Text Embeddings V2 gives 256, 512 or 1024"):
        build_index(config(embedder="bedrock", embedding_dim=300), corpus)
    with pytest.raises(WattbenchError, match="has a fixed size"):
        build_index(config(embedding_dim=256), corpus)


SEED_CONFIG = """\
# The keys of KohakuRAG_UI's configs/bedrock_claude37_sonnet.py (Titan V2 variant), recreated.
db = "../../data/embeddings/wattbot_titan_v2.db"
table_prefix = "wattbot_tv2"
questions = "../../data/train_QA.csv"
output = "../../artifacts/submission_bedrock_claude37_sonnet.csv"
metadata = "../../data/metadata.csv"
llm_provider = "bedrock"
bedrock_model = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
bedrock_region = "us-east-2"
embedding_model = "bedrock"
embedding_dim = 1024
bedrock_embedding_model = "amazon.titan-embed-text-v2:0"
top_k = 8
planner_max_queries = 4
deduplicate_retrieval = True
rerank_strategy = "combined"
top_k_final = 10
use_reordered_prompt = True
retrieval_threshold = 0.25
max_retries = 3
max_concurrent = 1
"""


@pytest.mark.slow
def test_a_seed_bedrock_config_runs_unchanged_and_leaves_no_secret(stub: BedrockStub, wattbot: Path,
                                                                   tmp_path: Path, monkeypatch, capsys):  # fmt: skip
    from fakes.workspace import make_workspace
    from wattbench.cli import main

    workspace = make_workspace(wattbot, tmp_path / "ws")
    secret = aws_env(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", stub.url)  # the AWS chain's endpoint override
    stub.script = ["ok", "validation"]  # the first planner call passes, its answer is refused: that question fails
    seed = workspace / "bedrock_claude37_sonnet.py"
    seed.write_text(SEED_CONFIG, encoding="utf-8")
    monkeypatch.chdir(workspace)  # the seed names no output_dir or index: both go under ./artifacts
    args = ["run", "--config", str(seed), "--data-dir", str(workspace / "data"), "--questions",
            str(workspace / "questions.csv"), "--limit", "3", "--quiet"]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "run partial: 2/3 answered, 1 failed" in captured.out
    assert "unknown setting 'db'; ignored" in captured.err
    run = workspace / "artifacts" / "experiments" / "bedrock_claude37_sonnet"
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    failed = [r for r in records if r["error"]]
    assert len(failed) == 1 and "ValidationException" in failed[0]["error"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["llm_provider"] == "bedrock" and summary["backend"]["region"] == "us-east-2"
    assert summary["energy"]["unavailable"]["gpu"].startswith("remote API")
    answered = [r for r in records if not r["error"]]
    tokens_in, tokens_out = sum(r["prompt_tokens"] for r in records), sum(r["completion_tokens"] for r in records)
    assert answered and summary["cost"]["price_input_per_1m"] == 3.0 and summary["cost"]["price_output_per_1m"] == 15.0
    assert summary["estimated_cost_usd"] == pytest.approx((3.0 * tokens_in + 15.0 * tokens_out) / 1e6)
    converse = [body for operation, model, body in stub.calls if operation == "converse"]
    assert converse and {m for op, m, _ in stub.calls if op == "converse"} == {
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0"}  # fmt: skip
    assert {b["dimensions"] for op, _, b in stub.calls if op == "invoke"} == {1024}  # Titan V2 at the seed's size
    report = workspace / "report.html"
    assert main(["report", "--experiments-dir", str(run.parent), "--out", str(report), "--plots-dir",
                 str(workspace / "plots"), "--data-dir", str(workspace / "data"),
                 "--solution", str(workspace / "questions.csv")]) == 0  # fmt: skip
    written = [p for p in (*run.rglob("*"), report, *(workspace / "artifacts").rglob("*.log")) if p.is_file()]
    for path in written:
        data = path.read_bytes()
        for credential in (secret, "stub-session-token-also-secret"):
            assert credential.encode() not in data, f"{path} holds a credential"
