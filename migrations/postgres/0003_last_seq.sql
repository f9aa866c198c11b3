-- The highest log sequence number committed for a document, set by every append under the
-- document row's lock. Appends to one document therefore commit in sequence order, so a
-- reader that has applied everything up to N can ask for "seq > N" and never miss a row
-- (several Tandem instances on one database rely on it; see README "Running several
-- instances"). Compaction deletes log rows but never lowers this.
ALTER TABLE documents ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0;

UPDATE documents d SET last_seq = GREATEST(
    COALESCE((SELECT MAX(u.seq) FROM updates u WHERE u.document_id = d.id), 0),
    COALESCE((SELECT s.upto_seq FROM snapshots s WHERE s.document_id = d.id), 0));
