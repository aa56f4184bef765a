// Package registry is the machinery behind serde/registry: an embedded,
// Confluent-compatible Schema Registry whose state lives in a Kafka topic.
//
// Layers: [ParseSchema] (Avro parsing with references) and
// [CheckCompatibility] (over package compat: Confluent's seven
// compatibility levels and verbose messages);
// [Store] (the _schemas topic: consumption, materialized state, the write
// protocol); [Service] (the REST operations, returning Confluent error
// codes); [NewHandler] (HTTP routing, content types, basic auth).
//
// # Storage
//
// All state is a fold over one compacted, single-partition topic
// (default "_schemas"). Records have JSON keys and values shaped like
// Confluent's:
//
//   - SCHEMA claim — key {keytype, subject, version, claim, magic}, value
//     {subject, version, id, schema, references, identity}. One record per
//     registration attempt; "claim" is a random nonce, so a claim key is
//     written exactly once and never updated. "identity" is a hash of the
//     full normalized schema and its references, computed by the writer.
//   - VERSION_STATE — key {keytype, subject, version, claim}, value
//     {deleted, permanent, revive}: soft and permanent deletion of a
//     registration, last write wins. Permanent is final except for revive,
//     which only an IMPORT of the very same registration (subject,
//     version, id and schema identity) writes.
//   - CONFIG / MODE — per subject (or global with subject null), last write
//     wins, tombstone removes.
//   - NOOP — a write barrier (see Sync); always a tombstone.
//
// Every instance consumes the partition from the beginning and applies
// records in offset order; the state is a pure function of that order.
//
// # Id allocation across instances
//
// There is no leader. Writers serialize through the log itself:
//
//  1. Sync: append a NOOP record and wait until it has been applied, so the
//     local state includes every write that came before.
//  2. Plan on that state: if the subject already has the schema, answer
//     with the existing id. Otherwise pick the id (the id already used for
//     this schema identity anywhere, else max id seen + 1) and the version
//     (highest version number ever used in the subject + 1), and check
//     compatibility.
//  3. Append the claim and read the log up to it.
//  4. Every reader decides the claim the same way, from earlier accepted
//     claims only: it is accepted unless (a) its subject version is held by
//     an earlier accepted claim, (b) its id stands for a different schema
//     identity, (c) its schema identity already has a different id, or (d)
//     a reference points to a version no accepted claim holds. If accepted,
//     the writer answers; if rejected (another instance won the race), the
//     writer tombstones its claim and starts again at 1 with fresh state.
//
// So two instances registering the same new schema concurrently both
// propose max+1; the first claim in the log wins; the second is rejected
// by rule (b)/(c) or (a) and, on retry, finds the schema and returns the
// same id. Two different schemas both proposing id N: the first wins, the
// second retries with N+1. Ids are never reused: accepted claims are never
// deleted from the log (permanent deletion is a VERSION_STATE marker), so
// max id only grows.
//
// Why this survives compaction: acceptance depends only on earlier
// accepted claims, which are never rewritten (no later record shares
// their key) and so are never moved or removed by compaction; their
// relative order is the same in every reading of the log. Rejected claims
// may be compacted away (their writers tombstone them; Sync-ing writers
// also tombstone leftovers) without changing any decision, since no rule
// looks at them. Deletion markers, configs and modes are last-write-wins
// and no claim decision depends on them.
//
// Costs: a permanently deleted registration keeps its claim record (its
// schema text stays in the topic, its version number and id are not
// reused); one extra NOOP round trip per write.
package registry
