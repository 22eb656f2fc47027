-- Sluice metadata schema, version 1 (GoogleSQL dialect).
--
-- Applied by `sluice migrate` (or `sluice serve --auto-migrate`), never by
-- hand: the migrator records each applied version in SchemaMigrations and
-- the broker refuses to start on a database whose latest version is not
-- the one it was built for. Statements are separated by semicolons; this
-- file is never edited once released, later changes go in 0002_*.sql.
--
-- Key design (see also doc.go): the hot tables (Partitions, IndexEntries,
-- ProducerStates) are interleaved under Topics, whose key is the topic's
-- random v4 UUID, so topics scatter over the key space and a topic's
-- partitions, index and producer states live next to each other. No
-- table has a monotonically increasing leading key: index entries do grow
-- with LastOffset, but only inside one partition, whose writes are
-- serialized by its Partitions row anyway. Producer ids, which count up,
-- are stored under their bit-reversed value in ProducerEpochs.

CREATE TABLE SchemaMigrations (
  Version   INT64 NOT NULL,
  Name      STRING(MAX) NOT NULL,
  AppliedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
) PRIMARY KEY (Version);

-- One row (Id 0): the cluster id and the next producer id.
CREATE TABLE Cluster (
  Id             INT64 NOT NULL,
  ClusterId      STRING(64),
  NextProducerId INT64,
) PRIMARY KEY (Id);

CREATE TABLE Topics (
  TopicId    BYTES(16) NOT NULL,
  Name       STRING(MAX) NOT NULL,
  Partitions INT64 NOT NULL,
  -- JSON object of the configs set on the topic.
  Configs   STRING(MAX) NOT NULL,
  CreatedAt TIMESTAMP NOT NULL,
) PRIMARY KEY (TopicId);

CREATE UNIQUE INDEX TopicsByName ON Topics (Name);

CREATE TABLE Partitions (
  TopicId            BYTES(16) NOT NULL,
  PartitionId        INT64 NOT NULL,
  LogStart           INT64 NOT NULL,
  HighWatermark      INT64 NOT NULL,
  MaxTimestamp       INT64 NOT NULL,
  MaxTimestampOffset INT64 NOT NULL,
) PRIMARY KEY (TopicId, PartitionId),
  INTERLEAVE IN PARENT Topics ON DELETE CASCADE;

CREATE TABLE IndexEntries (
  TopicId      BYTES(16) NOT NULL,
  PartitionId  INT64 NOT NULL,
  LastOffset   INT64 NOT NULL,
  BaseOffset   INT64 NOT NULL,
  MaxTimestamp INT64 NOT NULL,
  ObjectKey    STRING(MAX) NOT NULL,
  ObjectSize   INT64 NOT NULL,
  IndexPos     INT64 NOT NULL,
  IndexLen     INT64 NOT NULL,
  RelBase      INT64 NOT NULL,
  ByteStart    INT64 NOT NULL,
  ByteEnd      INT64 NOT NULL,
) PRIMARY KEY (TopicId, PartitionId, LastOffset),
  INTERLEAVE IN PARENT Partitions ON DELETE CASCADE;

-- Recent holds the last meta.RecentBatches batches as flat triples
-- (FirstSeq, LastSeq, BaseOffset), oldest first.
CREATE TABLE ProducerStates (
  TopicId     BYTES(16) NOT NULL,
  PartitionId INT64 NOT NULL,
  ProducerId  INT64 NOT NULL,
  Epoch       INT64 NOT NULL,
  Recent      ARRAY<INT64> NOT NULL,
) PRIMARY KEY (TopicId, PartitionId, ProducerId),
  INTERLEAVE IN PARENT Partitions ON DELETE CASCADE;

-- Epochs registered by BumpProducerEpoch. ProducerKey is the producer id
-- with its 64 bits reversed, so that ids handed out in sequence land far
-- apart instead of all at the end of the table.
CREATE TABLE ProducerEpochs (
  ProducerKey INT64 NOT NULL,
  ProducerId  INT64 NOT NULL,
  Epoch       INT64 NOT NULL,
) PRIMARY KEY (ProducerKey);

-- Consumer groups (meta.Groups). Record is the group as JSON; Version and
-- UpdatedAt (commit timestamp) let watchers in other processes poll for
-- changes cheaply.
CREATE TABLE ConsumerGroups (
  GroupName STRING(MAX) NOT NULL,
  Version   INT64 NOT NULL,
  Record    STRING(MAX) NOT NULL,
  UpdatedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
) PRIMARY KEY (GroupName);

-- Committed offsets exist without a group record too (simple consumers
-- commit offsets of groups that never join), so they are not interleaved.
-- Metadata NULL is "no metadata", distinct from "".
CREATE TABLE GroupOffsets (
  GroupName       STRING(MAX) NOT NULL,
  Topic           STRING(MAX) NOT NULL,
  PartitionId     INT64 NOT NULL,
  CommittedOffset INT64 NOT NULL,
  LeaderEpoch     INT64 NOT NULL,
  Metadata        STRING(MAX),
  CommitTime      TIMESTAMP NOT NULL,
) PRIMARY KEY (GroupName, Topic, PartitionId);
