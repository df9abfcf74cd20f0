-- The seed system's PostgreSQL IPC, kept for existing map-server installs (docs/ipc_bridge.md).
-- Idempotent: safe to run on a database that already has these tables.
CREATE TABLE IF NOT EXISTS ai_requests (
    request_id           bigserial PRIMARY KEY,
    monster_id           bigint,
    mob_id               int,
    archetype            varchar(20),
    state_vector         real[],
    map_id               int,
    position_x           int,
    position_y           int,
    hp_ratio             real,
    sp_ratio             real,
    priority             int DEFAULT 5,
    status               varchar(20) DEFAULT 'pending',  -- pending, processing, completed, failed, timeout
    created_at           timestamptz DEFAULT now(),
    processed_at         timestamptz,
    processing_worker_id varchar(100)
);
-- aiworld's one addition: when a bridge claimed the row, so that a dead bridge's rows return.
ALTER TABLE ai_requests ADD COLUMN IF NOT EXISTS claimed_at timestamptz;

CREATE TABLE IF NOT EXISTS ai_responses (
    response_id          bigserial PRIMARY KEY,
    request_id           bigint REFERENCES ai_requests (request_id) ON DELETE CASCADE,
    monster_id           bigint,
    action_id            int,
    confidence           real,
    action_type          varchar(32),
    action_params        jsonb,
    model_outputs        jsonb,
    fusion_weights       jsonb,
    inference_latency_ms real,
    cache_used           boolean,
    fallback_level       int,
    read_at              timestamptz,
    created_at           timestamptz DEFAULT now()
);

CREATE INDEX IF NOT EXISTS ai_requests_claim ON ai_requests (status, priority DESC, created_at);
CREATE INDEX IF NOT EXISTS ai_responses_request ON ai_responses (request_id);

-- Wake the bridge on insert (LISTEN ai_requests) instead of polling every 10 ms. One notification
-- per statement: a map server inserting a whole tick in one INSERT wakes the bridge once.
CREATE OR REPLACE FUNCTION ai_requests_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('ai_requests', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS ai_requests_notify ON ai_requests;
CREATE TRIGGER ai_requests_notify AFTER INSERT ON ai_requests
    FOR EACH STATEMENT EXECUTE FUNCTION ai_requests_notify();
