// Package broker assembles a Sluice broker: the stores, the produce and
// fetch pipelines, the Kafka front end and the admin HTTP endpoint. It is
// started and stopped like etcd's embed package:
//
//	cfg := broker.NewConfig()
//	cfg.KafkaAddr = "127.0.0.1:0"
//	b, err := broker.Start(ctx, cfg) // validates cfg
//	<-b.Ready()
//	… b.Err() reports a fatal serving error …
//	b.Close() // idempotent: drains in-flight produces, then stops
//
// main only parses flags into a Config.
package broker
