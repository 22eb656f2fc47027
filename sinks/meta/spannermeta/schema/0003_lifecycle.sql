-- Sluice metadata schema, version 3: the data lifecycle (archive,
-- retention, vacuum; meta.Lifecycle).
--
-- IndexEntries.Kind says what an entry's object is (meta.EntryKind): 0 an
-- intake object, 1 a partition's archive (its segment catalog). Rows
-- written before this version read as 0 through the default, which is
-- what they are. A partition has at most one archive entry, its oldest,
-- so the partition's index rows stay bounded however long it lives.
--
-- Leases holds one row per named lease (the vacuum's, the archiver's…):
-- who holds it and until when. Expires is written by the holder as its
-- clock plus the lease time, like Brokers.Expires; a lapsed lease may be
-- taken by anyone, a released one is deleted. The table holds a handful
-- of rows, each read by key.

ALTER TABLE IndexEntries ADD COLUMN Kind INT64 NOT NULL DEFAULT (0);

CREATE TABLE Leases (
  Name    STRING(MAX) NOT NULL,
  Holder  STRING(MAX) NOT NULL,
  Expires TIMESTAMP NOT NULL,
) PRIMARY KEY (Name);
