package registry

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Record kinds in the _schemas topic. Keys and values are JSON, shaped like
// Confluent's (keytype/subject/version/magic; subject/version/id/schema/
// schemaType/references/deleted) with additions that make concurrent
// writers safe (see the package doc): a SCHEMA key carries a "claim" nonce
// unique to one registration attempt and is written once, never updated; a
// SCHEMA value carries "identity", the hash that decides whether two
// registrations are the same schema; soft and permanent deletion are
// separate VERSION_STATE records keyed by the claim.
const (
	keySchema       = "SCHEMA"
	keyVersionState = "VERSION_STATE"
	keyConfig       = "CONFIG"
	keyMode         = "MODE"
	keyNoop         = "NOOP"
)

type recordKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject"`
	Version int     `json:"version,omitempty"`
	Claim   string  `json:"claim,omitempty"`
	Magic   int     `json:"magic"`
}

func (k recordKey) encode() []byte {
	b, _ := json.Marshal(k)
	return b
}

type schemaValue struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Identity   string      `json:"identity"`
}

type versionStateValue struct {
	Deleted   bool `json:"deleted"`
	Permanent bool `json:"permanent"`
	// Revive undoes a permanent deletion. Only an IMPORT of the very same
	// registration (subject, version, id and schema identity) writes it,
	// so reviving never changes what an id or a version stands for.
	Revive bool `json:"revive,omitempty"`
}

// configValue is a subject's (or the global) configuration. An empty
// level means "not set here" (a config that only sets normalize).
type configValue struct {
	CompatibilityLevel Level `json:"compatibilityLevel,omitempty"`
	Normalize          *bool `json:"normalize,omitempty"`
}

type modeValue struct {
	Mode string `json:"mode"`
}

// version is one accepted registration of a schema under a subject.
type version struct {
	claim     string // the claim nonce, unique per registration
	value     schemaValue
	deleted   bool // soft-deleted
	permanent bool // permanently deleted: invisible, but keeps its slot and id
}

// schemaByID is what a global id stands for.
type schemaByID struct {
	text     string
	refs     []Reference
	identity string
	versions []*version
}

func (s *schemaByID) visible() bool {
	for _, v := range s.versions {
		if !v.permanent {
			return true
		}
	}
	return false
}

// state is the registry's materialized view of the _schemas log. apply is
// a pure function of the record sequence, and whether a claim is accepted
// depends only on earlier accepted claims, which are never rewritten or
// removed: every instance reading the log, before or after compaction,
// reaches the same state. Guarded by Store.mu.
type state struct {
	subjects   map[string]map[int]*version // subject → version number → registration (permanent ones too)
	byClaim    map[string]*version
	ids        map[int]*schemaByID
	byIdentity map[string]int
	maxID      int
	// rejected claims (claim key → record key) not yet tombstoned; removing
	// them only tidies the log, no decision depends on them.
	rejected map[string][]byte
	config   map[string]configValue // "" is the global config
	mode     map[string]string      // "" is the global mode
}

func newState() *state {
	return &state{
		subjects:   map[string]map[int]*version{},
		byClaim:    map[string]*version{},
		ids:        map[int]*schemaByID{},
		byIdentity: map[string]int{},
		rejected:   map[string][]byte{},
		config:     map[string]configValue{},
		mode:       map[string]string{},
	}
}

// apply folds one record into the state. For a SCHEMA claim it returns the
// claim and whether it was accepted. Malformed records are skipped.
func (st *state) apply(key, value []byte) (claim string, accepted bool) {
	var k recordKey
	if err := json.Unmarshal(key, &k); err != nil {
		return "", false
	}
	subject := ""
	if k.Subject != nil {
		subject = *k.Subject
	}
	switch k.KeyType {
	case keyConfig:
		if value == nil {
			delete(st.config, subject)
			return "", false
		}
		var v configValue
		if json.Unmarshal(value, &v) == nil {
			if v.CompatibilityLevel != "" {
				l, ok := ParseLevel(string(v.CompatibilityLevel))
				if !ok {
					return "", false
				}
				v.CompatibilityLevel = l
			}
			st.config[subject] = v
		}
	case keyMode:
		if value == nil {
			delete(st.mode, subject)
			return "", false
		}
		var v modeValue
		if json.Unmarshal(value, &v) == nil {
			st.mode[subject] = v.Mode
		}
	case keyVersionState:
		reg := st.byClaim[k.Claim]
		if reg == nil {
			return "", false
		}
		var v versionStateValue
		if value == nil || json.Unmarshal(value, &v) != nil {
			return "", false
		}
		if reg.permanent && !v.Revive {
			return "", false // permanent deletion is final unless revived by an import
		}
		reg.deleted = v.Deleted || v.Permanent
		reg.permanent = v.Permanent
	case keySchema:
		if k.Claim == "" {
			return "", false
		}
		return k.Claim, st.applyClaim(k.Claim, key, value)
	}
	return "", false
}

func (st *state) applyClaim(claim string, key, value []byte) bool {
	if value == nil {
		delete(st.rejected, claim) // accepted claims are never tombstoned
		return false
	}
	if _, ok := st.byClaim[claim]; ok {
		return true // a duplicate delivery of an accepted claim
	}
	var v schemaValue
	if err := json.Unmarshal(value, &v); err != nil || v.Version < 1 || v.ID < 1 || v.Identity == "" {
		return false
	}
	if !st.acceptable(v) {
		st.rejected[claim] = append([]byte(nil), key...)
		return false
	}
	reg := &version{claim: claim, value: v}
	versions := st.subjects[v.Subject]
	if versions == nil {
		versions = map[int]*version{}
		st.subjects[v.Subject] = versions
	}
	versions[v.Version] = reg
	st.byClaim[claim] = reg
	id := st.ids[v.ID]
	if id == nil {
		id = &schemaByID{text: v.Schema, refs: v.References, identity: v.Identity}
		st.ids[v.ID] = id
		st.byIdentity[v.Identity] = v.ID
	}
	id.versions = append(id.versions, reg)
	if v.ID > st.maxID {
		st.maxID = v.ID
	}
	return true
}

// acceptable decides a new claim from earlier accepted claims only (never
// from rejected claims, delete markers or configs), so the decision is the
// same for every reader and survives compaction.
func (st *state) acceptable(v schemaValue) bool {
	if _, taken := st.subjects[v.Subject][v.Version]; taken {
		return false // another registration holds this subject version
	}
	if id, ok := st.ids[v.ID]; ok && id.identity != v.Identity {
		return false // the id stands for another schema
	}
	if id, ok := st.byIdentity[v.Identity]; ok && id != v.ID {
		return false // the schema already has another id
	}
	for _, ref := range v.References {
		if _, ok := st.subjects[ref.Subject][ref.Version]; !ok {
			return false // dangling reference
		}
	}
	return true
}

// versionsOf returns the subject's registrations in version order.
func (st *state) versionsOf(subject string, includeDeleted bool) []*version {
	var out []*version
	for _, v := range st.subjects[subject] {
		if !v.permanent && (includeDeleted || !v.deleted) {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].value.Version < out[j].value.Version })
	return out
}

func (st *state) latest(subject string) *version {
	vs := st.versionsOf(subject, false)
	if len(vs) == 0 {
		return nil
	}
	return vs[len(vs)-1]
}

func (st *state) nextVersion(subject string) int {
	next := 1
	for n := range st.subjects[subject] {
		if n >= next {
			next = n + 1
		}
	}
	return next
}

func (st *state) level(subject string) Level {
	if c, ok := st.config[subject]; ok && subject != "" && c.CompatibilityLevel != "" {
		return c.CompatibilityLevel
	}
	if c, ok := st.config[""]; ok && c.CompatibilityLevel != "" {
		return c.CompatibilityLevel
	}
	return DefaultLevel
}

// normalize reports whether registrations and look-ups under subject
// normalize schemas by default (Confluent's "normalize" config).
func (st *state) normalize(subject string) bool {
	if c, ok := st.config[subject]; ok && subject != "" && c.Normalize != nil {
		return *c.Normalize
	}
	if c, ok := st.config[""]; ok && c.Normalize != nil {
		return *c.Normalize
	}
	return false
}

func (st *state) modeOf(subject string) string {
	if m, ok := st.mode[subject]; ok && subject != "" {
		return m
	}
	if m, ok := st.mode[""]; ok {
		return m
	}
	return ModeReadWrite
}

// referencedBy lists the ids of accepted registrations that reference
// subject version (soft-deleted referrers count only with includeDeleted).
func (st *state) referencedBy(subject string, ver int, includeDeleted bool) []int {
	seen := map[int]bool{}
	var out []int
	for _, versions := range st.subjects {
		for _, v := range versions {
			if v.permanent || (v.deleted && !includeDeleted) {
				continue
			}
			for _, ref := range v.value.References {
				if ref.Subject == subject && ref.Version == ver && !seen[v.value.ID] {
					seen[v.value.ID] = true
					out = append(out, v.value.ID)
				}
			}
		}
	}
	sort.Ints(out)
	return out
}

// Modes (Confluent's /mode values).
const (
	ModeReadWrite        = "READWRITE"
	ModeReadOnly         = "READONLY"
	ModeReadOnlyOverride = "READONLY_OVERRIDE"
	ModeImport           = "IMPORT"
)

func jsonMarshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("registry: encode record: %w", err)
	}
	return b, nil
}
