-- Sluice metadata schema, version 2: the broker registry (meta.Brokers).
--
-- One row per broker name, never deleted: the name keeps its NodeId
-- across restarts; Expires is the lease (written by the broker as its
-- clock plus the lease time; Deregister sets it to the epoch). The table
-- is tiny (one row per broker) and read whole by each broker every few
-- seconds.

CREATE TABLE Brokers (
  Name     STRING(MAX) NOT NULL,
  NodeId   INT64 NOT NULL,
  Zone     STRING(MAX) NOT NULL,
  Host     STRING(MAX) NOT NULL,
  Port     INT64 NOT NULL,
  PeerAddr STRING(MAX) NOT NULL,
  Expires  TIMESTAMP NOT NULL,
) PRIMARY KEY (Name);
