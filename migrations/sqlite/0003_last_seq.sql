-- The highest log sequence number committed for a document, set by every append (see the
-- PostgreSQL migration of the same name: cluster mode needs it there; SQLite keeps the same
-- schema so history reads the same in both).
ALTER TABLE documents ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;

UPDATE documents SET last_seq = MAX(
    COALESCE((SELECT MAX(u.seq) FROM updates u WHERE u.document_id = documents.id), 0),
    COALESCE((SELECT s.upto_seq FROM snapshots s WHERE s.document_id = documents.id), 0));
