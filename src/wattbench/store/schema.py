"""The typed, versioned records and summaries of the store: every writer builds one of these and every reader
reads through them, so a file written by this release, an earlier one or a copied-in run dir reads the same way.

- `QuestionRecord`: one line of a WattBot run's results.jsonl.
- `RunSummary`: a WattBot run's (or an ensemble's) summary.json.
- `PromptRecord`: one line of a batch run's prompts.jsonl.
- `MasterRow`: one row of batch_results/master_results.csv, and the `results` of a batch run's summary.json.
- `BatchRunSummary`: a batch run's summary.json.

- `LoadResults`: a `wattbench load` sweep's load.json.

Each has a `schema_version`; files written before it was stored read as version 1, and a file of an earlier
version is brought up to today's by the numbered steps of store/migrations.py before it is validated. Keys this
release does not know (a later release's, the seed tools') are kept as they are (`extra="allow"`), so a rewrite
never drops them. Unknown figures are None, never 0 (but in the seed's own keys: store/compat.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from wattbench.errors import DataError
from wattbench.store.energy_sections import MeterWindow, RunEnergy
from wattbench.store.migrations import upgrade
from wattbench.store.sections import BackendInfo, Cost, Hardware, Resources, Timing

QUESTION_RECORD_VERSION = 1
RUN_SUMMARY_VERSION = 2
PROMPT_RECORD_VERSION = 1
MASTER_ROW_VERSION = 1
BATCH_SUMMARY_VERSION = 2
LOAD_RESULTS_VERSION = 1


def _whole(value: Any) -> Any:
    """A count a spreadsheet or an older writer stored as 12.0 reads as 12."""
    if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit() and "." in value:
        number = float(value)
        return int(number) if number.is_integer() else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Count = Annotated[int | None, BeforeValidator(_whole)]


class Stored(BaseModel):
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True, populate_by_name=True)
    VERSION: ClassVar[int] = 1
    KIND: ClassVar[str] = ""
    """The file's kind in store/migrations.MIGRATIONS."""
    schema_version: int = 1

    @classmethod
    def of(cls, data: dict[str, Any], where: str) -> Self:
        """Validate `data` read from `where` (a file, or a file and line); one line naming the field if bad."""
        if not isinstance(data, dict):
            raise DataError(f"{where}: expected a JSON object")
        version = data.get("schema_version", 1)
        if isinstance(version, int) and version > cls.VERSION:
            raise DataError(
                f"{where}: schema_version {version} is newer than this wattbench reads ({cls.VERSION}); upgrade it"
            )
        data = upgrade(cls.KIND, data, cls.VERSION, where)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise DataError(f"{where}: field {field}: {first['msg']}") from None

    @classmethod
    def read(cls, path: Path) -> Self:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: cannot read, not valid JSON ({exc}); fix it or rerun with --force") from None
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
        return cls.of(data, str(path))

    def dump(self) -> dict[str, Any]:
        """The JSON object as written: declared fields, then every other key it was given."""
        return self.model_dump(mode="json")


class QuestionRecord(Stored):
    """One question of a WattBot run: its prediction, its scores, its time, tokens and energy."""

    VERSION: ClassVar[int] = QUESTION_RECORD_VERSION
    KIND: ClassVar[str] = "question_record"
    id: str
    question: str = ""
    gt_value: str | None = ""
    gt_unit: str | None = ""
    gt_ref: str | None = ""
    pred_value: str | None = ""
    pred_unit: str | None = ""
    pred_ref: str | None = ""
    pred_answer: str | None = ""
    pred_explanation: str | None = ""
    value_correct: bool | None = None
    ref_score: float | None = None
    na_correct: bool | None = None
    weighted_score: float | None = None
    latency_s: float | None = 0.0
    retrieval_s: float | None = 0.0
    generation_s: float | None = 0.0
    prompt_tokens: int | None = 0
    completion_tokens: int | None = 0
    finish_reason: str | None = None
    ttft_s: float | None = None
    """Time to the answer's first token, where the engine times tokens (backends/timing.py)."""
    tpot_s: float | None = None
    prefill_energy_j: float | None = None
    """GPU energy from the answer request's start to its first token (energy/phases.py; the question's last call,
    after any planner call); None when it was not split (a retried request, no token timing, no GPU measured)."""
    decode_energy_j: float | None = None
    """GPU energy from the first token to the end of the answer."""
    retries: int = 0
    retries_by_kind: dict[str, int] = Field(default_factory=dict)
    attempts: int = 1
    notes: list[str] = Field(default_factory=list)
    usage_unknown: bool = False
    """The engine reported impossible token counts for a request of this question (the note says which): the
    question's token counts are then None, and the run's cost and tokens leave it out."""
    retrieved: list[str] = Field(default_factory=list)
    planner_queries: list[str] = Field(default_factory=list)
    raw_output: str | None = ""
    thinking: str = ""
    """The answer's thinking, taken off before its JSON was parsed (a server's reasoning_content, a <think> block,
    a Harmony analysis channel): its first and last 2,000 characters when longer (tasks/wattbot_reasoning.py)."""
    thinking_chars: int = 0
    """The thinking's whole length in characters."""
    reasoning_tokens: int | None = None
    """Tokens spent thinking on the answer: the engine's count, else as `reasoning_tokens_method` says."""
    reasoning_tokens_method: str | None = None
    """engine, cap_reached_while_thinking (the whole output), not_reasoning (0), or None (unknown)."""
    parse_error: str | None = None
    parse_status: str | None = None
    """ok, recovered, unparseable or thinking_truncated (the budget ran out while thinking); None for a failed
    question. Records written before it was stored: from parse_error (see records.parse_status)."""
    error: str | None = None
    submission: dict[str, str] = Field(default_factory=dict)
    energy: MeterWindow | None = None
    """The question's meter window (energy/base.Measurement), split at the answer's first token where it could be."""
    session: int | None = None
    repeat: int = 0
    """The measured pass this answer belongs to (task.repeats): 0 is the run's own answer, which every score and
    file of the run is built from; 1, 2, ... are further passes, read by RunDir.read_repeats."""


class RunSummary(Stored):
    """summary.json of a WattBot run or ensemble. The nested parts keep the shapes documented in DESIGN.md ("Run
    directory"); the seed's top-level keys (overall_score, input_tokens, estimated_cost_usd, ...) are written from
    wattbench's one value each, in the seed's view (store/compat.py)."""

    VERSION: ClassVar[int] = RUN_SUMMARY_VERSION
    KIND: ClassVar[str] = "run_summary"
    name: str | None = None
    kind: str = "experiment"
    model_id: str | None = None
    llm_provider: str | None = None
    num_questions: int | None = None
    num_done: int | None = None
    num_answered: int | None = None
    num_failed: int | None = None
    num_unparseable: int | None = None
    num_recovered: int | None = None
    num_thinking_truncated: int | None = None
    """Answers whose budget ran out while the model was still thinking (scored as blank)."""
    reasoning_state: str | None = None
    """`generation.reasoning` as asked (Off, On (High), ...); None: the model's default, nothing sent."""
    mode: dict[str, Any] | None = None
    """The reasoning mode it resolved to, as a batch row records it (family, control, switches, budget)."""
    reasoning_warnings: list[str] = Field(default_factory=list)
    """What the family could not honour (a state it cannot take), as the batch runner says it."""
    status: str | None = None
    """complete, partial, incomplete or failed; runs written before it was stored: from `complete`."""
    stop_reason: str | None = None
    complete: bool = False
    overall_score: float | None = None
    input_tokens: int | None = None
    """Input tokens over the answered and failed questions (the seed's key; its total, once)."""
    output_tokens: int | None = None
    scores: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per scoring mode (kaggle: the official metric; lenient), the scorer's report (scoring/wattbot.py)."""
    timing: Timing = Field(default_factory=Timing)
    cost: Cost = Field(default_factory=Cost)
    hardware: Hardware = Field(default_factory=Hardware)
    """The machine; its seed keys (gpu_energy_wh, gpu_vram_allocated_gb, ...) hold 0 for unmeasured, the seed's way."""
    resources: Resources = Field(default_factory=Resources)
    """wattbench's own GPU energy, power, VRAM, disk and load time: null for unmeasured, the reason in
    `unavailable`."""
    energy: RunEnergy = Field(default_factory=RunEnergy)
    """One scope at a time (energy/): the headline scope, the phases, per-question figures by scope, the
    prefill/decode split, CO2e."""
    backend: BackendInfo = Field(default_factory=BackendInfo)
    sessions: list[dict[str, Any]] = Field(default_factory=list)
    """Each session of the run (a resume starts one): started_at, ended_at, wall_s, questions, energy of its
    index and model loads and its idle baseline, and why it stopped, if it did."""
    config: dict[str, Any] = Field(default_factory=dict)
    """The run's ExperimentConfig, as it ran."""
    repeats: dict[str, Any] | None = None
    """With task.repeats > 1 or task.repeat_until: each measured pass's figures, each figure's spread across the
    passes, and why they stopped (runs/wattbot_repeats.py); None for a run of one pass."""
    vs_best_member: dict[str, Any] | None = None
    """An ensemble: its paired comparison with its best member (report/compare.paired_figures, kaggle mode);
    None for a run, or an ensemble scored against no solution."""

    @property
    def run_status(self) -> str:
        return self.status or ("complete" if self.complete else "incomplete")


class PromptRecord(Stored):
    """One prompt of a batch row: its timing, tokens, output and share of the call's energy."""

    VERSION: ClassVar[int] = PROMPT_RECORD_VERSION
    KIND: ClassVar[str] = "prompt_record"
    prompt_index: int
    repeat: int = 0
    status: str
    """ok or error."""
    error: str | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    tpot_s: float | None = None
    """Mean time per output token after the first (backends/timing.py)."""
    itl_s: list[float] = Field(default_factory=list)
    """Gaps between consecutive deliveries of output (a server may send several tokens in one)."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    usage_warning: str | None = None
    """Set when the engine reported token counts that cannot be true; they are then None (backends/usage.py)."""
    reasoning_tokens: int | None = None
    answer_tokens: int | None = None
    reasoning_tokens_method: str | None = None
    finish_reason: str | None = None
    answer_reached: bool | None = None
    thinking_chars: int = 0
    output: str = ""
    thinking: str = ""
    rendered_prompt_sha256: str = ""
    rendered_by: str = ""
    gpu_energy_j: float | None = None
    """This prompt's share of its generate call's metered GPU energy (a call is metered as a whole), in
    proportion to the output tokens it generated; the shares of a call add up to the call's energy."""
    cpu_energy_j: float | None = None
    """The same share of the call's CPU package energy (reported beside GPU energy, never added to it)."""
    prefill_energy_j: float | None = None
    """GPU energy from the request's start to its first token, at batch size 1 (energy/phases.py); None when the
    call was not split (a batch of prompts, an engine that reports no token, no GPU measured)."""
    decode_energy_j: float | None = None
    """GPU energy from the first token to the end of the call."""
    energy_share: str | None = None
    """Which rule gave this prompt its share of the call: `in_flight` (several prompts in flight, by their own
    times and the sampled power, energy/inflight.py) or `output_tokens` (a prompt alone, or an engine that streams
    no tokens)."""
    failed_output_tokens: int | None = None
    """A failed prompt: the output tokens it was sent before it failed (a stream cut off); its energy share is
    weighed by them, as an answered prompt's is by its output tokens."""
    energy_method: str | None = None
    """How the call's window was measured, per scope kind (`gpu:nvml_counter`; `gpu:nvml_power_estimate` for a
    window shorter than the counter's step)."""
    phase_energy_method: str | None = None
    """How the prefill and decode windows were measured (a 50 ms prefill is estimated from power, and says so)."""
    energy_warnings: list[str] = Field(default_factory=list)
    """What the call's window warned of: a counter reset inside it, an estimate from power, too few readings."""


class MasterRow(Stored):
    """One (model, reasoning state). The first 19 columns are the seed runner's, in its order."""

    VERSION: ClassVar[int] = MASTER_ROW_VERSION
    KIND: ClassVar[str] = "master_row"
    model_name: str
    model_class: str | None = None
    task: str | None = None
    reasoning_state: str | None = ""
    total_prompts: Count = None
    successful_prompts: Count = None
    failed_prompts: Count = None
    total_duration_seconds: float | None = None
    avg_latency_seconds: float | None = None
    total_tokens: Count = None
    total_prompt_tokens: Count = None
    total_completion_tokens: Count = None
    throughput_tokens_per_second: float | None = None
    gpu_energy_wh: float | None = None
    co2_emissions_g: float | None = None
    tokens_per_joule: float | None = None
    avg_energy_per_prompt_wh: float | None = None
    timestamp: str | None = None
    error_message: str | None = None
    wh_per_1000_queries: float | None = None
    total_reasoning_tokens: Count = None
    total_answer_tokens: Count = None
    avg_ttft_seconds: float | None = None
    prompts_cap_reached_while_thinking: Count = None
    cpu_energy_wh: float | None = None
    energy_method: str | None = None
    idle_power_w: float | None = None
    gpu_name: str | None = None
    gpu_count: Count = None
    status: str | None = None
    backend: str | None = None
    family: str | None = None
    reasoning_control: str | None = None
    reasoning: bool | None = None
    effort: str | None = None
    max_new_tokens: Count = None
    fixed_length: bool | None = None
    warmup_prompts: Count = None
    repeats: Count = None
    rendered_prompts_sha256: str | None = None
    run_id: str | None = None
    protocol: str | None = None
    """wattbench or aienergyscore (protocols/); empty in tables written before protocols existed."""
    comparable: bool | None = None
    """aienergyscore: whether the figure can stand beside the board (None: the protocol has no reference)."""
    not_comparable_reason: str | None = None
    dataset: str | None = None
    """The prompts' file (or dataset id)."""
    dataset_sha256: str | None = None
    dtype: str | None = None
    engine_version: str | None = None
    gpu_driver: str | None = None
    ttft_p50_s: float | None = None
    """Percentiles over the answered prompts (p50/p90/p99) of TTFT and TPOT, and over all their token gaps."""
    ttft_p90_s: float | None = None
    ttft_p99_s: float | None = None
    tpot_p50_s: float | None = None
    tpot_p90_s: float | None = None
    tpot_p99_s: float | None = None
    itl_p50_s: float | None = None
    itl_p90_s: float | None = None
    itl_p99_s: float | None = None
    prefill_j_per_input_token: float | None = None
    """GPU prefill energy over the prompt tokens of the answered prompts whose call was split (batch size 1)."""
    decode_j_per_output_token: float | None = None
    """GPU decode energy over the output tokens after each prompt's first (those the decode produced)."""
    fixed_length_held: bool | None = None
    """A fixed-length run (every prompt asked for exactly max_new_tokens): whether every answered prompt got that
    many. False: the engine ignored the request (a server without `min_tokens`); output_lengths_seen says what came
    back, and the row's energy is not per the published length. None: not a fixed-length run, or counts unknown."""
    output_lengths_seen: str | None = None
    """The answered prompts' output lengths, `min-max` (or one number), for a fixed-length run."""
    usage_unknown_prompts: Count = None
    """Answered prompts whose token counts the engine reported impossibly (backends/usage.py): recorded as unknown,
    so the row's token totals, throughput and tokens/J are unknown too."""
    repeats_measured: Count = None
    """Measured passes the row made (more than `repeats` with repeat_until)."""
    repeat_stop: str | None = None
    """Why the passes stopped: "repeats" (as asked), "reached" (the energy interval within repeat_until), "gave up
    at N" (max_repeats), or interrupted/failed."""
    repeat_energy_per_prompt_wh_mean: float | None = None
    """Across passes, energy per answered prompt on the headline scope (GPU, else CPU): mean, standard
    deviation, coefficient of variation (sd/mean) and 95% Student t interval of the mean (none with 1 pass)."""
    repeat_energy_per_prompt_wh_sd: float | None = None
    repeat_energy_per_prompt_wh_cv: float | None = None
    repeat_energy_per_prompt_wh_ci95_low: float | None = None
    repeat_energy_per_prompt_wh_ci95_high: float | None = None
    repeat_j_per_output_token_mean: float | None = None
    """Across passes, J per output token: mean, standard deviation,
    coefficient of variation (sd/mean) and 95% Student t interval of the mean (none with 1 pass)."""
    repeat_j_per_output_token_sd: float | None = None
    repeat_j_per_output_token_cv: float | None = None
    repeat_j_per_output_token_ci95_low: float | None = None
    repeat_j_per_output_token_ci95_high: float | None = None
    repeat_output_tokens_per_s_mean: float | None = None
    """Across passes, output tokens per second of a pass's wall time: mean, standard deviation,
    coefficient of variation (sd/mean) and 95% Student t interval of the mean (none with 1 pass)."""
    repeat_output_tokens_per_s_sd: float | None = None
    repeat_output_tokens_per_s_cv: float | None = None
    repeat_output_tokens_per_s_ci95_low: float | None = None
    repeat_output_tokens_per_s_ci95_high: float | None = None
    repeat_latency_p50_s_mean: float | None = None
    """Across passes, the median latency of a pass: mean, standard deviation,
    coefficient of variation (sd/mean) and 95% Student t interval of the mean (none with 1 pass)."""
    repeat_latency_p50_s_sd: float | None = None
    repeat_latency_p50_s_cv: float | None = None
    repeat_latency_p50_s_ci95_low: float | None = None
    repeat_latency_p50_s_ci95_high: float | None = None
    repeat_ttft_p50_s_mean: float | None = None
    """Across passes, the median TTFT of a pass: mean, standard deviation,
    coefficient of variation (sd/mean) and 95% Student t interval of the mean (none with 1 pass)."""
    repeat_ttft_p50_s_sd: float | None = None
    repeat_ttft_p50_s_cv: float | None = None
    repeat_ttft_p50_s_ci95_low: float | None = None
    repeat_ttft_p50_s_ci95_high: float | None = None
    energy_share: str | None = None
    """How the row's prompts were given their shares of each call: in_flight, output_tokens, or both."""
    workload: str | None = None
    """textgen (empty in earlier tables) or wattbot (`batch --workload wattbot`: the row is a WattBot run)."""
    overall_score: float | None = None
    """A wattbot row: the WattBot score (kaggle mode) and its 95% bootstrap interval over the questions, with the
    value accuracy, the reference overlap and the NA recall beside it, each with its interval."""
    overall_score_ci95_low: float | None = None
    overall_score_ci95_high: float | None = None
    value_accuracy: float | None = None
    value_accuracy_ci95_low: float | None = None
    value_accuracy_ci95_high: float | None = None
    ref_overlap: float | None = None
    ref_overlap_ci95_low: float | None = None
    ref_overlap_ci95_high: float | None = None
    na_recall: float | None = None
    na_recall_ci95_low: float | None = None
    na_recall_ci95_high: float | None = None
    reasoning_tokens_per_question: float | None = None
    """A wattbot row: mean tokens spent thinking per answered question (None when any count is unknown)."""
    thinking_truncated: Count = None
    """A wattbot row: answers whose budget ran out while the model was still thinking."""
    energy_scope: str | None = None
    """A wattbot row: the scope of its energy per question (avg_energy_per_prompt_wh): gpu, cpu, or none."""
    run_dir: str | None = None
    """A wattbot row: its WattBot run dir (for matrix, compare, report)."""
    shared_gpu: bool | None = None
    """True: another process used a measured GPU during the row (summary.json energy.shared_gpu names it); the
    row's GPU energy includes its draw. None: no GPU measured."""
    failed_gpu_energy_wh: float | None = None
    """GPU energy of the prompts that failed (their shares, by the tokens they were sent before failing): beside
    the answered prompts' figures, never in them. 0: no prompt failed after generating."""
    energy_warnings: Count = None
    """Distinct warnings the row's meter windows raised (summary.json's `energy_warnings` lists them): a counter
    reset, windows estimated from power, power integrated from too few readings. 0: none."""
    phase_energy_method: str | None = None
    """How the prefill/decode windows of the split prompts were measured (`nvml_power_estimate` where a prefill
    was shorter than the counter's step)."""

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        """The CSV's columns: every field but schema_version (the CSV's header is its version)."""
        return tuple(name for name in cls.model_fields if name != "schema_version")

    @classmethod
    def from_cells(cls, cells: dict[str, str], where: str) -> MasterRow:
        """A row as the CSV holds it: every cell text, an empty one unknown."""
        return cls.of({k: (None if v == "" else v) for k, v in cells.items()}, where)

    def cells(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if k != "schema_version"}


class BatchRunSummary(Stored):
    """summary.json of one batch row's run."""

    VERSION: ClassVar[int] = BATCH_SUMMARY_VERSION
    KIND: ClassVar[str] = "batch_summary"
    run_id: str | None = None
    model: str | None = None
    row: int | None = None
    status: str
    """completed, failed or interrupted."""
    error: str | None = None
    reasoning_state: str | None = None
    mode: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    """The batch's BatchConfig, as the row ran (its engine settings in `generation` since version 2)."""
    model_load_s: float | None = None
    first_rendered_prompt: str | None = None
    energy: MeterWindow | None = None
    """The meter window of the row's measured passes (every repeat; warm-up and the model load outside it)."""
    energy_warnings: list[str] = Field(default_factory=list)
    """Every distinct warning of the row's windows (the measured window's and each call's), with where it was
    raised (energy/warning_list.py)."""
    energy_unavailable: dict[str, str] = Field(default_factory=dict)
    measured_devices: dict[str, Any] | None = None
    """The devices the row's engine held, whose scopes its energy covers (energy/devices.py)."""
    idle: MeterWindow | None = None
    """The row's idle baseline (a Measurement), taken after its model loaded and warmed up."""
    energy_sharing: dict[str, Any] = Field(default_factory=dict)
    hardware: Hardware = Field(default_factory=Hardware)
    protocol: dict[str, Any] = Field(default_factory=dict)
    """The protocol's name and every parameter the row actually used (protocols/)."""
    comparability: list[str] | None = None
    """Why the figure is not comparable with the protocol's reference ([]: it is; None: no reference)."""
    repeats: dict[str, Any] | None = None
    """Each measured pass's figures (energy per prompt, J per output token, output tokens/s, latency and TTFT
    p50) with its own meter window (`window`), each figure's spread across passes, why the passes stopped, and
    the prompts' hash (`prompts_sha256`): what a rerun checks before it keeps the finished passes
    (runs/textgen_resume.py, runs/textgen_repeats.py)."""
    log: str | None = None
    results: MasterRow


class LoadResults(Stored):
    """load.json of a `wattbench load` sweep: the machine and settings, and one point per batch size."""

    VERSION: ClassVar[int] = LOAD_RESULTS_VERSION
    KIND: ClassVar[str] = "load_results"
    anchor: str | None = None
    """The batch size every other is compared with."""
    points: list[dict[str, Any]]
    """One per batch size (runs/load.LoadPoint): requests, throughput, latency percentiles, energy per token."""
