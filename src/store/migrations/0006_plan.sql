-- Upgrade planning (S5): download nodes, each deployment's plan, and bookings. A
-- node's capacity is per absolute time slot (slot_start, Unix ms), whatever the
-- deployment: `plan_slot.booked` is the one counter a booking raises, and only while
-- it is below the node's cap, in one conditional UPDATE, so concurrent radcare nodes
-- on one PostgreSQL never book a slot over its cap.
CREATE TABLE plan_node (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    cluster TEXT NOT NULL,
    latitude DOUBLE PRECISION NOT NULL,
    longitude DOUBLE PRECISION NOT NULL,
    cap_per_slot INTEGER NOT NULL,
    up INTEGER NOT NULL
);

CREATE TABLE plan (
    deployment BIGINT PRIMARY KEY,
    start_ms BIGINT NOT NULL,
    slot_ms BIGINT NOT NULL,
    slots INTEGER NOT NULL,
    allowed TEXT NOT NULL
);

CREATE TABLE plan_slot (
    node TEXT NOT NULL,
    slot_start BIGINT NOT NULL,
    booked INTEGER NOT NULL,
    PRIMARY KEY (node, slot_start)
);

CREATE TABLE plan_booking (
    deployment BIGINT NOT NULL,
    device TEXT NOT NULL,
    node TEXT NOT NULL,
    slot_start BIGINT NOT NULL,
    booked_at BIGINT NOT NULL,
    PRIMARY KEY (deployment, device)
);

CREATE INDEX plan_booking_node ON plan_booking (node, slot_start);
