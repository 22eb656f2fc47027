// Package spanneremu starts the Cloud Spanner emulator for tests: once per
// test binary, on a free loopback port, with a test instance, and creates
// databases in it. spannertest, the in-process fake, does not implement
// transactions, so it cannot stand in for the emulator.
package spanneremu
