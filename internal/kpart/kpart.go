// Package kpart places records in partitions as Kafka's Java producer does,
// so that keyed records written by Sluice's engine, its connectors and Java
// clients are co-partitioned.
package kpart

import (
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Default places keyed records like Kafka's Java producer (murmur2 of the
// key bytes, sign bit masked, modulo the partition count), honours an
// explicit partition (Partition >= 0), and spreads null-key records
// round-robin.
func Default() kgo.Partitioner {
	return kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
		var rr atomic.Uint32
		return func(r *kgo.Record, n int) int {
			switch {
			case r.Partition >= 0:
				return int(r.Partition) % n
			case r.Key != nil:
				return ForKey(r.Key, n)
			default:
				return int(rr.Add(1)) % n
			}
		}
	})
}

// ForKey is the partition of a serialized key among n partitions.
func ForKey(key []byte, n int) int { return int(Murmur2(key)&0x7fffffff) % n }

// Murmur2 is Kafka's Utils.murmur2 (seed 0x9747b28c).
func Murmur2(data []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	length := len(data)
	h := seed ^ uint32(length)
	n := length / 4
	for i := 0; i < n; i++ {
		i4 := i * 4
		k := uint32(data[i4]) | uint32(data[i4+1])<<8 | uint32(data[i4+2])<<16 | uint32(data[i4+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch length % 4 {
	case 3:
		h ^= uint32(data[(length&^3)+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[(length&^3)+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[length&^3])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
