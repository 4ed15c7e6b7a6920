-- Software deployment (OTA): devices, releases, their artifacts, deployments and
-- the per-device actions of a deployment. Times are Unix milliseconds; ids of
-- deployments and actions are random positive integers below 2^53 (JSON-safe, and
-- no sequence to share between nodes).
CREATE TABLE ota_device (
    id TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL,
    model TEXT NOT NULL,
    tags TEXT NOT NULL,
    phone TEXT,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    attributes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen BIGINT
);

CREATE TABLE ota_release (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    models TEXT NOT NULL,
    manifest TEXT NOT NULL,
    signature TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE ota_artifact (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    sha1 TEXT NOT NULL,
    md5 TEXT NOT NULL
);

CREATE TABLE ota_release_artifact (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    filename TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (name, version, filename)
);

CREATE TABLE ota_deployment (
    id BIGINT PRIMARY KEY,
    release_name TEXT NOT NULL,
    release_version TEXT NOT NULL,
    policy TEXT NOT NULL,
    error_threshold INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE ota_action (
    id BIGINT PRIMARY KEY,
    deployment BIGINT NOT NULL,
    device TEXT NOT NULL,
    rollout_group INTEGER NOT NULL,
    state TEXT NOT NULL,
    result_code INTEGER,
    result_detail TEXT,
    install_kind TEXT,
    updated_at BIGINT NOT NULL
);

CREATE INDEX ota_action_device ON ota_action (device, state);
CREATE INDEX ota_action_deployment ON ota_action (deployment, rollout_group, state);
