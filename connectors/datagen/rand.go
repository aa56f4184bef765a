package datagen

import (
	"math"
	"math/bits"
)

// Randomness. Every record is generated from its own small PRNG whose
// state is derived from (seed, position): record n of the sequence is then
// a pure function of the seed and n, so a task restarted at a committed
// position regenerates exactly the records it would have produced, and no
// state but the position has to be kept in the offsets.

const golden = 0x9e3779b97f4a7c15 // 2^64 / phi, splitmix64's increment

// mix64 is splitmix64's finaliser: a bijective, well-avalanching hash.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hash3 hashes a seed, a domain (which use of randomness) and an index into
// 64 well-mixed bits. Scenarios use it for per-entity attributes that must
// not change between records (a customer's name, an item's price).
func hash3(seed, domain, index uint64) uint64 {
	return mix64(seed ^ mix64(domain*golden+index+1))
}

// rng is wyrand: one multiply per draw, passes BigCrush and PractRand, and
// its state is one word, so seeding it per record costs nothing.
type rng struct{ s uint64 }

// seedRecord positions r at the start of record position pos: the pos-th
// output of a splitmix64 stream started at seed.
func (r *rng) seedRecord(seed, pos uint64) { r.s = mix64(seed + (pos+1)*golden) }

func (r *rng) next() uint64 {
	r.s += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(r.s, r.s^0xe7037ed1a0b428db)
	return hi ^ lo
}

// below returns a uniform value in [0, n) (n > 0) by Lemire's
// multiply-shift; the bias for n far below 2^64 is negligible for test
// data, and there is no rejection loop to make the draw count vary.
func (r *rng) below(n uint64) uint64 {
	hi, _ := bits.Mul64(r.next(), n)
	return hi
}

// intn returns a uniform int in [0, n).
func (r *rng) intn(n int) int { return int(r.below(uint64(n))) }

// float returns a uniform float64 in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) * (1.0 / (1 << 53)) }

// chance returns true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// unitFloat maps 64 hash bits to [0, 1).
func unitFloat(h uint64) float64 { return float64(h>>11) * (1.0 / (1 << 53)) }

// round2 rounds to two decimals (cents, hundredths).
func round2(x float64) float64 { return math.Round(x*100) / 100 }
