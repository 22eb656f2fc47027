-- Sluice metadata schema, version 4: idle producer states expire
-- (Kafka's producer.id.expiration.ms; meta.Lifecycle.ExpireProducers).
--
-- ProducerStates.LastWrite is the commit timestamp of the last commit that
-- wrote the row: every new client process gets a new producer id, so
-- without it the table would keep one row per producer and partition
-- forever. Rows written before this version have NULL; the first expiry
-- pass over their partition stamps them with its commit timestamp rather
-- than deleting them, so they expire one expiration after the upgrade. No
-- index: a pass reads one partition's rows, which share a key prefix.

ALTER TABLE ProducerStates ADD COLUMN LastWrite TIMESTAMP OPTIONS (allow_commit_timestamp = true);
