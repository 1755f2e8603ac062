-- A user's stored connector credentials. `sealed` is ciphertext (ChaCha20-Poly1305,
-- keyed from LEVQOR_SECRET, bound to the row's id and owner); no credential value is
-- ever stored in the clear. `credential_fields` lists the field names (JSON array).
CREATE TABLE connections (
    id                 TEXT PRIMARY KEY NOT NULL,
    owner              TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    connector          TEXT NOT NULL,
    name               TEXT NOT NULL,
    credential_fields  TEXT NOT NULL DEFAULT '[]',
    sealed             TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    last_used_at       BIGINT,
    UNIQUE (owner, connector, name)
);

CREATE INDEX connections_owner ON connections (owner, connector, created_at);
