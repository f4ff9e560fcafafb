"""The evaluator's tables: scores (live and shadow arms'), outcomes, A/B state, reports and
query embeddings."""

from __future__ import annotations

from shared.kit.db_tenancy import grants_ddl, tenant_policy_ddl

__all__ = ["DDL", "TENANT_TABLES"]

# Keyed by tenant, so under row-level security; the others hold sums over tenants.
TENANT_TABLES = (
    "evaluator_scores",
    "evaluator_shadow_scores",
    "evaluator_outcomes",
    "evaluator_queries",
)
_SUMS = ("evaluator_variant_totals", "evaluator_ab_state", "evaluator_reports")

DDL = """
CREATE TABLE IF NOT EXISTS evaluator_scores (
    tenant text NOT NULL,
    request_id text NOT NULL,
    experiment text NOT NULL,
    variant text NOT NULL,
    retrieval_relevance double precision NOT NULL,
    top_score double precision NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, request_id)
);
ALTER TABLE evaluator_scores ADD COLUMN IF NOT EXISTS groundedness double precision;
ALTER TABLE evaluator_scores ADD COLUMN IF NOT EXISTS judge_score double precision;
ALTER TABLE evaluator_scores ADD COLUMN IF NOT EXISTS latency_ms double precision
    NOT NULL DEFAULT 0;
ALTER TABLE evaluator_scores ADD COLUMN IF NOT EXISTS cost_usd double precision
    NOT NULL DEFAULT 0;
ALTER TABLE evaluator_scores ADD COLUMN IF NOT EXISTS answer text NOT NULL DEFAULT '';
ALTER TABLE evaluator_scores ADD COLUMN IF NOT EXISTS occurred_at timestamptz
    NOT NULL DEFAULT now();
ALTER TABLE evaluator_scores ADD COLUMN IF NOT EXISTS fallback boolean NOT NULL DEFAULT false;
ALTER TABLE evaluator_scores ADD COLUMN IF NOT EXISTS serving_ms double precision
    NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS evaluator_scores_time ON evaluator_scores (occurred_at);
-- Shadow arms answer the same requests as the live arm, so they are keyed by arm too.
CREATE TABLE IF NOT EXISTS evaluator_shadow_scores (
    tenant text NOT NULL,
    request_id text NOT NULL,
    variant text NOT NULL,
    experiment text NOT NULL,
    retrieval_relevance double precision NOT NULL,
    top_score double precision NOT NULL,
    groundedness double precision,
    judge_score double precision,
    latency_ms double precision NOT NULL DEFAULT 0,
    cost_usd double precision NOT NULL DEFAULT 0,
    answer text NOT NULL DEFAULT '',
    fallback boolean NOT NULL DEFAULT false,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, request_id, variant)
);
CREATE INDEX IF NOT EXISTS evaluator_shadow_scores_time ON evaluator_shadow_scores (occurred_at);
ALTER TABLE evaluator_shadow_scores ADD COLUMN IF NOT EXISTS serving_ms double precision
    NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS evaluator_variant_totals (
    experiment text NOT NULL,
    variant text NOT NULL,
    predictions bigint NOT NULL,
    relevance_sum double precision NOT NULL,
    PRIMARY KEY (experiment, variant)
);
CREATE TABLE IF NOT EXISTS evaluator_outcomes (
    tenant text NOT NULL,
    feedback_id text NOT NULL,
    request_id text NOT NULL,
    experiment text NOT NULL,
    variant text NOT NULL,
    kind text NOT NULL,
    value_number double precision,
    value_text text,
    verdict text,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, feedback_id)
);
CREATE INDEX IF NOT EXISTS evaluator_outcomes_request ON evaluator_outcomes (tenant, request_id);
CREATE TABLE IF NOT EXISTS evaluator_ab_state (
    experiment text NOT NULL,
    metric text NOT NULL,
    control text NOT NULL,
    arm text NOT NULL,
    p_value double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (experiment, metric, control, arm)
);
CREATE TABLE IF NOT EXISTS evaluator_reports (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    kind text NOT NULL,
    experiment text NOT NULL,
    variant text,
    body jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS evaluator_reports_experiment ON evaluator_reports (experiment, at);
CREATE TABLE IF NOT EXISTS evaluator_queries (
    tenant text NOT NULL,
    request_id text NOT NULL,
    experiment text NOT NULL,
    occurred_at timestamptz NOT NULL,
    embedding vector NOT NULL,
    PRIMARY KEY (tenant, request_id)
);
CREATE INDEX IF NOT EXISTS evaluator_queries_time ON evaluator_queries (experiment, occurred_at);
""" + "\n".join(
    [
        tenant_policy_ddl(*TENANT_TABLES),
        grants_ddl("SELECT, INSERT, UPDATE", [*TENANT_TABLES, *_SUMS], ["evaluator"]),
        grants_ddl("USAGE", ["SEQUENCE evaluator_reports_id_seq"], ["evaluator"]),
    ]
)
