-- Sluice metadata schema, version 5: transactional id records
-- (meta.Transactions), one row per transactional id.
--
-- Record is the meta.Txn as JSON (a cold path: a few writes per
-- transaction, none per batch); Version repeats its Version so that a
-- poller or a query can compare states without decoding; UpdatedAt is the
-- commit timestamp. ListTransactions reads the table whole; the lifecycle's
-- timeout scan reads it too (a later version may add a secondary index on
-- the state and deadline once the table is large).

CREATE TABLE Transactions (
  TransactionalId STRING(MAX) NOT NULL,
  Version         INT64 NOT NULL,
  Record          STRING(MAX) NOT NULL,
  UpdatedAt       TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
) PRIMARY KEY (TransactionalId);
