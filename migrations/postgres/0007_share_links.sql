-- Share links (docs/editor.md): every link minted by POST /api/documents/{doc}/share, so the
-- sharer can list and revoke them and hand out a short address (/s/<id>) instead of the
-- token. `id` is the short id, also the token's `lid` claim, which the server checks on
-- every request; times are Unix seconds. `token` is what /s/<id> hands out.
CREATE TABLE share_links (
    id          TEXT    PRIMARY KEY,
    document    TEXT    NOT NULL,
    access      TEXT    NOT NULL CHECK (access IN ('read', 'write')),
    name        TEXT,
    created_by  TEXT,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    revoked_at  BIGINT,
    token       TEXT    NOT NULL
);
CREATE INDEX share_links_by_document ON share_links(document, created_at);
