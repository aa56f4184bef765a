package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Error is a Confluent-style REST error: an HTTP status, Confluent's
// error_code and a message. Every Service method returns *Error (or nil).
type Error struct {
	Status  int
	Code    int
	Message string
}

func (e *Error) Error() string { return "registry: " + e.Message }

func errorf(status, code int, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func subjectNotFound(subject string) *Error {
	return errorf(http.StatusNotFound, 40401, "Subject '%s' not found.", subject)
}

func versionNotFound(v int) *Error {
	return errorf(http.StatusNotFound, 40402, "Version %d not found.", v)
}

func schemaNotFound() *Error { return errorf(http.StatusNotFound, 40403, "Schema not found") }

func invalidSchema(err error) *Error {
	msg := strings.TrimPrefix(err.Error(), ErrInvalidSchema.Error()+": ")
	return errorf(http.StatusUnprocessableEntity, 42201, "Invalid schema: %s", msg)
}

func invalidVersion(v string) *Error {
	return errorf(http.StatusUnprocessableEntity, 42202, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
}

func storeError(err error) *Error {
	return errorf(http.StatusInternalServerError, 50001, "Error in the backend data store: %v", err)
}

func readOnly(subject string) *Error {
	return errorf(http.StatusUnprocessableEntity, 42205, "Subject %s is in read-only mode", subject)
}

// Service implements the registry's operations over a Store. HTTP handlers
// (http.go) only decode requests and encode results. Safe for concurrent use.
type Service struct {
	store *Store

	parsedMu sync.Mutex
	parsed   map[string]*Schema // claim → parsed schema

	// beforeClaim, if set (tests only), runs between planning a
	// registration and appending its claim.
	beforeClaim func(attempt int)
}

// NewService serves the registry held by store.
func NewService(store *Store) *Service {
	return &Service{store: store, parsed: map[string]*Schema{}}
}

// Store returns the underlying store.
func (s *Service) Store() *Store { return s.store }

// SchemaRequest is the body of register, look-up and compatibility calls.
type SchemaRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	ID         int         `json:"id,omitempty"`
	Version    int         `json:"version,omitempty"`
}

// SubjectVersion is Confluent's schema-with-subject response.
type SubjectVersion struct {
	Subject    string      `json:"subject"`
	ID         int         `json:"id"`
	Version    int         `json:"version"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"-"`
}

// SchemaByID is Confluent's GET /schemas/ids/{id} response. Subject and
// Version are set when the request names a subject holding the id;
// MaxID when it asks for fetchMaxId.
type SchemaByID struct {
	Subject    string      `json:"subject,omitempty"`
	Version    int         `json:"version,omitempty"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	MaxID      int         `json:"maxId,omitempty"`
}

// SubjectVersionPair names one subject version.
type SubjectVersionPair struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// lookupIn resolves references against st (soft-deleted versions count,
// permanently deleted ones do not). The caller holds the read lock.
func lookupIn(st *state) ReferenceLookup {
	return func(subject string, ver int) (string, []Reference, bool) {
		v := st.subjects[subject][ver]
		if v == nil || v.permanent {
			return "", nil, false
		}
		return v.value.Schema, v.value.References, true
	}
}

// resolveRefs turns version -1 ("latest") references into numbers.
func resolveRefs(st *state, refs []Reference) []Reference {
	out := slices.Clone(refs)
	for i, r := range out {
		if r.Version == -1 {
			if l := st.latest(r.Subject); l != nil {
				out[i].Version = l.value.Version
			}
		}
	}
	return out
}

func (s *Service) parseRegistered(st *state, v *version) (*Schema, error) {
	s.parsedMu.Lock()
	p, ok := s.parsed[v.claim]
	s.parsedMu.Unlock()
	if ok {
		return p, nil
	}
	p, err := ParseSchema(v.value.SchemaType, v.value.Schema, v.value.References, lookupIn(st))
	if err != nil {
		return nil, fmt.Errorf("registry: stored schema %q version %d: %w", v.value.Subject, v.value.Version, err)
	}
	p.Version = v.value.Version
	s.parsedMu.Lock()
	s.parsed[v.claim] = p
	s.parsedMu.Unlock()
	return p, nil
}

func (s *Service) previous(st *state, versions []*version) ([]*Schema, error) {
	out := make([]*Schema, 0, len(versions))
	for _, v := range versions {
		p, err := s.parseRegistered(st, v)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func isReadOnly(mode string) bool { return mode == ModeReadOnly || mode == ModeReadOnlyOverride }

const maxClaimAttempts = 16

// RegisterOptions are the query parameters of a registration.
type RegisterOptions struct {
	// Normalize stores the schema in normalized form (see
	// Schema.normalized); the subject's normalize config turns it on too.
	Normalize bool
	// Force skips the compatibility check (Confluent's force=true).
	Force bool
}

// validSubject applies Confluent's rule (QualifiedSubject.isValidSubject):
// no ISO control characters and not one of the reserved names.
func validSubject(subject string) bool {
	if subject == "" || subject == "__GLOBAL" || subject == "__EMPTY" {
		return false
	}
	for _, r := range subject {
		if r <= 0x1f || (r >= 0x7f && r <= 0x9f) {
			return false
		}
	}
	return true
}

func invalidSubject(subject string) *Error {
	return errorf(http.StatusUnprocessableEntity, 42208, "The specified subject '%s' is not a valid.", subject)
}

func notPermitted(format string, args ...any) *Error {
	return errorf(http.StatusUnprocessableEntity, 42205, format, args...)
}

// Register registers req under subject with default options.
func (s *Service) Register(ctx context.Context, subject string, req SchemaRequest) (SubjectVersion, error) {
	return s.RegisterWith(ctx, subject, req, RegisterOptions{})
}

// registerPlan is what planRegister decided: an answer without a write
// (existing), or a claim to append, or a registration to revive; plus
// soft-deleted versions with the new registration's id to delete for good
// once it stands (as Confluent tombstones them).
type registerPlan struct {
	existing *SubjectVersion
	claim    *schemaValue
	revive   *version
	obsolete []*version
}

// RegisterWith registers req under subject and returns its global id and
// version, or the existing ones when the subject already has the schema.
func (s *Service) RegisterWith(ctx context.Context, subject string, req SchemaRequest, opts RegisterOptions) (SubjectVersion, error) {
	if !validSubject(subject) {
		return SubjectVersion{}, invalidSubject(subject)
	}
	st := s.store
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	for attempt := range maxClaimAttempts {
		if err := st.Sync(ctx); err != nil {
			return SubjectVersion{}, storeError(err)
		}
		st.cleanRejected(ctx)
		var (
			plan registerPlan
			rerr error
		)
		st.read(func(state *state) {
			plan, rerr = s.planRegister(state, subject, req, opts)
		})
		if rerr != nil {
			return SubjectVersion{}, rerr
		}
		if plan.existing != nil {
			return *plan.existing, nil
		}
		if plan.revive != nil {
			if err := st.setVersionState(ctx, plan.revive, versionStateValue{Revive: true}); err != nil {
				return SubjectVersion{}, writeError(err)
			}
			return toSubjectVersion(plan.revive), nil
		}
		if s.beforeClaim != nil {
			s.beforeClaim(attempt)
		}
		accepted, err := st.claim(ctx, *plan.claim)
		if err != nil {
			return SubjectVersion{}, writeError(err)
		}
		if !accepted {
			continue // another instance's write came first: decide again on fresh state
		}
		for _, v := range plan.obsolete {
			if err := st.setVersionState(ctx, v, versionStateValue{Deleted: true, Permanent: true}); err != nil {
				return SubjectVersion{}, storeError(err)
			}
		}
		c := plan.claim
		return SubjectVersion{Subject: subject, ID: c.ID, Version: c.Version, Schema: c.Schema, References: c.References}, nil
	}
	return SubjectVersion{}, storeError(fmt.Errorf("registration of subject %q lost %d races in a row", subject, maxClaimAttempts))
}

// writeError maps a failed write: a record over the topic's (or the
// producer's) size limit is Confluent's 42209.
func writeError(err error) *Error {
	if errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) {
		return errorf(http.StatusUnprocessableEntity, 42209, "Register operation failed because schema is too large")
	}
	return storeError(err)
}

// liveLookupIn resolves references of a new registration: soft-deleted
// versions do not count (Confluent answers 42201 for them).
func liveLookupIn(st *state) ReferenceLookup {
	return func(subject string, ver int) (string, []Reference, bool) {
		v := st.subjects[subject][ver]
		if v == nil || v.deleted {
			return "", nil, false
		}
		return v.value.Schema, v.value.References, true
	}
}

// parseCandidate parses a submitted schema, normalized when asked.
func parseCandidate(st *state, req SchemaRequest, normalize bool, lookup ReferenceLookup) (*Schema, error) {
	refs := resolveRefs(st, req.References)
	parsed, err := ParseSchema(req.SchemaType, req.Schema, refs, lookup)
	if err != nil {
		return nil, invalidSchema(err)
	}
	if normalize {
		text, nrefs := parsed.normalized()
		if parsed, err = ParseSchema(req.SchemaType, text, nrefs, lookup); err != nil {
			return nil, invalidSchema(err)
		}
	}
	return parsed, nil
}

// findInSubject returns the newest of versions holding parsed: the same
// identity, or the same schema with every reference inlined.
func (s *Service) findInSubject(st *state, versions []*version, parsed *Schema) *version {
	identity := parsed.identity()
	resolved := parsed.resolvedIdentity()
	for i := len(versions) - 1; i >= 0; i-- {
		if versions[i].value.Identity == identity {
			return versions[i]
		}
	}
	if len(parsed.References) > 0 {
		return nil
	}
	for i := len(versions) - 1; i >= 0; i-- {
		if p, err := s.parseRegistered(st, versions[i]); err == nil && p.resolvedIdentity() == resolved {
			return versions[i]
		}
	}
	return nil
}

// planRegister decides a registration on the current state, following
// Confluent's order: an existing registration of the same schema in the
// subject answers first (even in read-only mode), then the mode rules,
// then the schema, the id, the version and compatibility.
func (s *Service) planRegister(st *state, subject string, req SchemaRequest, opts RegisterOptions) (registerPlan, error) {
	normalize := opts.Normalize || st.normalize(subject)
	mode := st.modeOf(subject)
	importing := mode == ModeImport
	live := st.versionsOf(subject, false)
	if existing, err := parseCandidate(st, req, normalize && !importing, lookupIn(st)); err == nil {
		if v := s.findInSubject(st, live, existing); v != nil && (req.ID <= 0 || req.ID == v.value.ID) && (req.Version <= 0 || req.Version == v.value.Version) {
			sv := toSubjectVersion(v)
			return registerPlan{existing: &sv}, nil
		}
	}
	switch {
	case isReadOnly(mode):
		return registerPlan{}, notPermitted("Subject %s in context . is in read-only mode", subject)
	case req.ID > 0 && !importing:
		return registerPlan{}, notPermitted("Subject %s in context . is not in import mode", subject)
	case req.ID <= 0 && mode != ModeReadWrite:
		return registerPlan{}, notPermitted("Subject %s in context . is not in read-write mode", subject)
	}
	// Confluent ignores the normalize flag and config in IMPORT mode: an
	// import stores exactly what the source registry had.
	parsed, err := parseCandidate(st, req, normalize && !importing, liveLookupIn(st))
	if err != nil {
		return registerPlan{}, err
	}
	identity := parsed.identity()
	id, known := st.byIdentity[identity]
	if req.ID > 0 {
		if other, ok := st.ids[req.ID]; ok && other.identity != identity {
			return registerPlan{}, notPermitted("Overwrite new schema with id %d in context . is not permitted.", req.ID)
		}
		if known && id != req.ID {
			return registerPlan{}, errorf(http.StatusUnprocessableEntity, 42207,
				"Schema already registered with id %d instead of input id %d (this registry gives one schema one id)", id, req.ID)
		}
		id, known = req.ID, true
	}
	if !known {
		id = st.maxID + 1
	}
	ver := st.nextVersion(subject)
	if req.Version > 0 {
		if held := st.subjects[subject][req.Version]; held != nil {
			if held.value.Identity == identity && held.value.ID == id && held.deleted {
				return registerPlan{revive: held}, nil // re-import of the very same registration
			}
			return registerPlan{}, notPermitted("Version %d of subject %s is held by another schema (id %d); version numbers are not reused", req.Version, subject, held.value.ID)
		}
		if !importing && req.Version != ver {
			return registerPlan{}, errorf(http.StatusUnprocessableEntity, 42201, "Invalid schema: Version is not one more than previous version")
		}
		ver = req.Version
	}
	if !importing && !opts.Force {
		prev, err := s.previous(st, live)
		if err != nil {
			return registerPlan{}, storeError(err)
		}
		if msgs := CheckCompatibility(st.level(subject), parsed, prev); len(msgs) > 0 {
			return registerPlan{}, errorf(http.StatusConflict, 40901,
				"Schema being registered is incompatible with an earlier schema for subject \"%s\", details: [%s]", subject, strings.Join(msgs, ", "))
		}
	}
	var obsolete []*version
	for _, v := range st.versionsOf(subject, true) {
		if v.deleted && v.value.ID == id && v.value.Version < ver && len(st.referencedBy(subject, v.value.Version, true)) == 0 {
			obsolete = append(obsolete, v)
		}
	}
	return registerPlan{claim: &schemaValue{
		Subject:    subject,
		Version:    ver,
		ID:         id,
		Schema:     parsed.Text,
		References: parsed.References,
		Identity:   identity,
	}, obsolete: obsolete}, nil
}

// Lookup finds req among the subject's versions (POST /subjects/{s}):
// the same schema, or the same schema given with its references inlined.
func (s *Service) Lookup(subject string, req SchemaRequest, includeDeleted, normalize bool) (SubjectVersion, error) {
	var (
		out SubjectVersion
		err error
	)
	s.store.read(func(st *state) {
		all := st.versionsOf(subject, includeDeleted)
		if len(all) == 0 {
			err = subjectNotFound(subject)
			return
		}
		parsed, perr := parseCandidate(st, req, normalize || st.normalize(subject), lookupIn(st))
		if perr != nil {
			err = perr
			return
		}
		if v := s.findInSubject(st, all, parsed); v != nil {
			out = toSubjectVersion(v)
			return
		}
		err = schemaNotFound()
	})
	return out, err
}

func toSubjectVersion(v *version) SubjectVersion {
	return SubjectVersion{
		Subject:    v.value.Subject,
		ID:         v.value.ID,
		Version:    v.value.Version,
		References: v.value.References,
		Schema:     v.value.Schema,
		Deleted:    v.deleted,
	}
}

// Filter selects versions in listings: live ones (the default), live and
// soft-deleted ones (deleted=true), or soft-deleted ones only
// (deletedOnly=true, which wins).
type Filter struct {
	Deleted     bool
	DeletedOnly bool
}

func (f Filter) keep(v *version) bool {
	switch {
	case v.permanent:
		return false
	case f.DeletedOnly:
		return v.deleted
	default:
		return f.Deleted || !v.deleted
	}
}

func (f Filter) versions(st *state, subject string) []*version {
	var out []*version
	for _, v := range st.versionsOf(subject, true) {
		if f.keep(v) {
			out = append(out, v)
		}
	}
	return out
}

// Page is Confluent's offset/limit pagination; a negative or zero limit
// means no limit.
type Page struct {
	Offset, Limit int
}

func paginate[T any](items []T, p Page) []T {
	if p.Offset > 0 {
		if p.Offset >= len(items) {
			return items[:0]
		}
		items = items[p.Offset:]
	}
	if p.Limit > 0 && p.Limit < len(items) {
		items = items[:p.Limit]
	}
	return items
}

// Subjects lists subjects that have versions the filter keeps.
func (s *Service) Subjects(prefix string, f Filter, p Page) []string {
	out := []string{}
	s.store.read(func(st *state) {
		for subject := range st.subjects {
			if strings.HasPrefix(subject, prefix) && len(f.versions(st, subject)) > 0 {
				out = append(out, subject)
			}
		}
	})
	sort.Strings(out)
	return paginate(out, p)
}

// Versions lists a subject's version numbers the filter keeps.
func (s *Service) Versions(subject string, f Filter, p Page) ([]int, error) {
	var out []int
	s.store.read(func(st *state) {
		for _, v := range f.versions(st, subject) {
			out = append(out, v.value.Version)
		}
	})
	if len(out) == 0 {
		return nil, subjectNotFound(subject)
	}
	return paginate(out, p), nil
}

// Schemas lists registrations (GET /schemas): subjects by prefix, every
// kept version or only each subject's latest, ordered by subject and
// version.
func (s *Service) Schemas(prefix string, f Filter, latestOnly bool, p Page) []SubjectVersion {
	out := []SubjectVersion{}
	s.store.read(func(st *state) {
		subjects := make([]string, 0, len(st.subjects))
		for subject := range st.subjects {
			if strings.HasPrefix(subject, prefix) {
				subjects = append(subjects, subject)
			}
		}
		sort.Strings(subjects)
		for _, subject := range subjects {
			vs := f.versions(st, subject)
			if latestOnly && len(vs) > 0 {
				vs = vs[len(vs)-1:]
			}
			for _, v := range vs {
				out = append(out, toSubjectVersion(v))
			}
		}
	})
	return paginate(out, p)
}

// parseVersion accepts "latest", -1 or 1..2^31-1.
func parseVersion(s string) (n int, latest bool, err error) {
	if s == "latest" || s == "-1" {
		return 0, true, nil
	}
	n, perr := strconv.Atoi(s)
	if perr != nil || n < 1 || n > 1<<31-1 {
		return 0, false, invalidVersion(s)
	}
	return n, false, nil
}

// findVersion resolves subject/version; the caller holds the read lock.
func findVersion(st *state, subject, versionStr string, includeDeleted bool) (*version, error) {
	n, latest, err := parseVersion(versionStr)
	if err != nil {
		return nil, err
	}
	all := st.versionsOf(subject, true)
	if len(all) == 0 {
		return nil, subjectNotFound(subject)
	}
	if latest {
		var live []*version
		for _, v := range all {
			if includeDeleted || !v.deleted {
				live = append(live, v)
			}
		}
		if len(live) == 0 {
			return nil, subjectNotFound(subject)
		}
		return live[len(live)-1], nil
	}
	for _, v := range all {
		if v.value.Version == n && (includeDeleted || !v.deleted) {
			return v, nil
		}
	}
	return nil, versionNotFound(n)
}

// GetVersion returns one version of a subject.
func (s *Service) GetVersion(subject, versionStr string, includeDeleted bool) (SubjectVersion, error) {
	var (
		out SubjectVersion
		err error
	)
	s.store.read(func(st *state) {
		var v *version
		if v, err = findVersion(st, subject, versionStr, includeDeleted); err == nil {
			out = toSubjectVersion(v)
		}
	})
	return out, err
}

// ReferencedBy lists ids of schemas referencing subject/version (with
// soft-deleted referrers when includeDeleted).
func (s *Service) ReferencedBy(subject, versionStr string, includeDeleted bool) ([]int, error) {
	var (
		out []int
		err error
	)
	s.store.read(func(st *state) {
		var v *version
		if v, err = findVersion(st, subject, versionStr, includeDeleted); err == nil {
			out = st.referencedBy(subject, v.value.Version, includeDeleted)
		}
	})
	if out == nil {
		out = []int{}
	}
	return out, err
}

// SchemaByIDLookup returns the schema with a global id. An unknown id is
// looked up again after catching up with the log, so that a client that
// registered through another instance finds it here.
func (s *Service) SchemaByIDLookup(ctx context.Context, id int) (SchemaByID, error) {
	return s.SchemaByIDIn(ctx, id, "", false)
}

// SchemaByIDIn is SchemaByIDLookup with Confluent's query parameters:
// subject (answer with the subject's newest version holding the id) and
// fetchMaxId.
func (s *Service) SchemaByIDIn(ctx context.Context, id int, subject string, fetchMaxID bool) (SchemaByID, error) {
	var out SchemaByID
	found := func() bool {
		ok := false
		s.store.read(func(st *state) {
			sch := st.ids[id]
			if sch == nil || !sch.visible() {
				return
			}
			out, ok = SchemaByID{Schema: sch.text, References: sch.refs}, true
			if fetchMaxID {
				out.MaxID = st.maxID
			}
			if subject == "" {
				return
			}
			for _, v := range sch.versions {
				if v.value.Subject == subject && !v.permanent && v.value.Version > out.Version {
					out.Subject, out.Version = subject, v.value.Version
				}
			}
		})
		return ok
	}
	if found() {
		return out, nil
	}
	if err := s.store.Sync(ctx); err != nil {
		return out, storeError(err)
	}
	if found() {
		return out, nil
	}
	return out, errorf(http.StatusNotFound, 40403, "Schema %d not found", id)
}

// VersionsByID lists the subject versions using a global id.
func (s *Service) VersionsByID(ctx context.Context, id int, includeDeleted bool) ([]SubjectVersionPair, error) {
	if _, err := s.SchemaByIDLookup(ctx, id); err != nil {
		return nil, err
	}
	out := []SubjectVersionPair{}
	s.store.read(func(st *state) {
		if sch := st.ids[id]; sch != nil {
			for _, v := range sch.versions {
				if !v.permanent && (includeDeleted || !v.deleted) {
					out = append(out, SubjectVersionPair{v.value.Subject, v.value.Version})
				}
			}
		}
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

// SubjectsByID lists the subjects using a global id.
func (s *Service) SubjectsByID(ctx context.Context, id int, includeDeleted bool) ([]string, error) {
	pairs, err := s.VersionsByID(ctx, id, includeDeleted)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, p := range pairs {
		if len(out) == 0 || out[len(out)-1] != p.Subject {
			out = append(out, p.Subject)
		}
	}
	return out, nil
}

func referenceExists(subject string, ver int) *Error {
	return errorf(http.StatusUnprocessableEntity, 42206,
		"One or more references exist to the schema {magic=1,keytype=SCHEMA,subject=%s,version=%d}.", subject, ver)
}

// DeleteSubject soft-deletes (or, after that, permanently deletes) every
// version of subject and returns the version numbers.
func (s *Service) DeleteSubject(ctx context.Context, subject string, permanent bool) ([]int, error) {
	st := s.store
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	if err := st.Sync(ctx); err != nil {
		return nil, storeError(err)
	}
	var (
		targets []*version
		rerr    error
	)
	st.read(func(state *state) {
		if isReadOnly(state.modeOf(subject)) {
			rerr = readOnly(subject)
			return
		}
		all := state.versionsOf(subject, true)
		if len(all) == 0 {
			rerr = subjectNotFound(subject)
			return
		}
		for _, v := range all {
			if !permanent && v.deleted {
				continue
			}
			if permanent && !v.deleted {
				rerr = errorf(http.StatusNotFound, 40405, "Subject '%s' was not deleted first before being permanently deleted", subject)
				return
			}
			for _, id := range state.referencedBy(subject, v.value.Version, permanent) {
				if !usedOnlyBy(state, id, subject) {
					rerr = referenceExists(subject, v.value.Version)
					return
				}
			}
			targets = append(targets, v)
		}
		if len(targets) == 0 {
			rerr = errorf(http.StatusNotFound, 40404, "Subject '%s' was soft deleted.Set permanent=true to delete permanently", subject)
		}
	})
	if rerr != nil {
		return nil, rerr
	}
	out := make([]int, 0, len(targets))
	// Newest first, so intra-subject references never dangle.
	for i := len(targets) - 1; i >= 0; i-- {
		v := targets[i]
		if err := st.setVersionState(ctx, v, versionStateValue{Deleted: true, Permanent: permanent}); err != nil {
			return nil, storeError(err)
		}
	}
	for _, v := range targets {
		out = append(out, v.value.Version)
	}
	if permanent {
		if err := s.dropSubjectSettings(ctx, subject); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// usedOnlyBy reports whether every registration of id is in subject
// (references within the subject being deleted do not block).
func usedOnlyBy(st *state, id int, subject string) bool {
	if sch := st.ids[id]; sch != nil {
		for _, v := range sch.versions {
			if v.value.Subject != subject && !v.permanent {
				return false
			}
		}
	}
	return true
}

func (s *Service) dropSubjectSettings(ctx context.Context, subject string) error {
	var hasConfig, hasMode bool
	s.store.read(func(st *state) {
		_, hasConfig = st.config[subject]
		_, hasMode = st.mode[subject]
	})
	if hasConfig {
		if err := s.store.putConfig(ctx, subject, nil); err != nil {
			return storeError(err)
		}
	}
	if hasMode {
		if err := s.store.putMode(ctx, subject, nil); err != nil {
			return storeError(err)
		}
	}
	return nil
}

// DeleteVersion soft-deletes (or, after that, permanently deletes) one
// version and returns its number.
func (s *Service) DeleteVersion(ctx context.Context, subject, versionStr string, permanent bool) (int, error) {
	st := s.store
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	if err := st.Sync(ctx); err != nil {
		return 0, storeError(err)
	}
	var (
		target *version
		rerr   error
	)
	st.read(func(state *state) {
		if isReadOnly(state.modeOf(subject)) {
			rerr = readOnly(subject)
			return
		}
		v, err := findVersion(state, subject, versionStr, permanent)
		if err != nil {
			rerr = err
			if n, latest, perr := parseVersion(versionStr); perr == nil && !latest && !permanent {
				if dv := state.subjects[subject][n]; dv != nil && !dv.permanent && dv.deleted {
					rerr = errorf(http.StatusNotFound, 40406, "Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", subject, n)
				}
			}
			return
		}
		if permanent && !v.deleted {
			rerr = errorf(http.StatusNotFound, 40407, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, v.value.Version)
			return
		}
		if len(state.referencedBy(subject, v.value.Version, permanent)) > 0 {
			rerr = referenceExists(subject, v.value.Version)
			return
		}
		target = v
	})
	if rerr != nil {
		return 0, rerr
	}
	if err := st.setVersionState(ctx, target, versionStateValue{Deleted: true, Permanent: permanent}); err != nil {
		return 0, storeError(err)
	}
	if permanent {
		var empty bool
		st.read(func(state *state) { empty = len(state.versionsOf(subject, true)) == 0 })
		if empty {
			if err := s.dropSubjectSettings(ctx, subject); err != nil {
				return 0, err
			}
		}
	}
	return target.value.Version, nil
}

// CompatibilityResult is Confluent's compatibility check response.
// Messages are included (possibly empty) only for verbose checks.
type CompatibilityResult struct {
	IsCompatible bool
	Messages     []string
	Verbose      bool
}

// MarshalJSON writes {"is_compatible":..., "messages":[...]}, with
// messages only in verbose mode, as Confluent does.
func (r CompatibilityResult) MarshalJSON() ([]byte, error) {
	if !r.Verbose {
		return json.Marshal(struct {
			IsCompatible bool `json:"is_compatible"`
		}{r.IsCompatible})
	}
	msgs := r.Messages
	if msgs == nil {
		msgs = []string{}
	}
	return json.Marshal(struct {
		IsCompatible bool     `json:"is_compatible"`
		Messages     []string `json:"messages"`
	}{r.IsCompatible, msgs})
}

// TestCompatibility checks req against one version of subject
// (versionStr "latest" or a number) or, with versionStr "", against all
// versions the subject's level asks for, as registration would.
func (s *Service) TestCompatibility(subject, versionStr string, req SchemaRequest, verbose bool) (CompatibilityResult, error) {
	var (
		out  CompatibilityResult
		rerr error
	)
	s.store.read(func(st *state) {
		var prevVersions []*version
		if versionStr == "" {
			prevVersions = st.versionsOf(subject, false)
		} else {
			n, latest, err := parseVersion(versionStr)
			if err != nil {
				rerr = err
				return
			}
			v, err := findVersion(st, subject, versionStr, false)
			switch {
			case err == nil:
				prevVersions = []*version{v}
			case latest:
				// Confluent: "latest" of an empty subject is compatible.
			default:
				// Confluent answers 40402 here even for an unknown subject.
				rerr = versionNotFound(n)
				return
			}
		}
		refs := resolveRefs(st, req.References)
		parsed, err := ParseSchema(req.SchemaType, req.Schema, refs, lookupIn(st))
		if err != nil {
			if verbose {
				out = CompatibilityResult{IsCompatible: false, Messages: []string{invalidSchema(err).Message}, Verbose: true}
				return
			}
			rerr = invalidSchema(err)
			return
		}
		prev, err := s.previous(st, prevVersions)
		if err != nil {
			rerr = storeError(err)
			return
		}
		msgs := CheckCompatibility(st.level(subject), parsed, prev)
		out = CompatibilityResult{IsCompatible: len(msgs) == 0, Messages: msgs, Verbose: verbose}
	})
	return out, rerr
}

// Config is a subject's or the global configuration as GET /config
// shows it.
type Config struct {
	CompatibilityLevel Level `json:"compatibilityLevel,omitempty"`
	Normalize          *bool `json:"normalize,omitempty"`
}

// ConfigUpdate is the body of PUT /config; fields left out keep their
// current value.
type ConfigUpdate struct {
	Compatibility *string `json:"compatibility,omitempty"`
	Normalize     *bool   `json:"normalize,omitempty"`
}

// GetConfig returns the configuration of subject ("" for the global one,
// which always has a level). With defaultToGlobal, unset subject fields
// come from the global configuration.
func (s *Service) GetConfig(subject string, defaultToGlobal bool) (Config, error) {
	var (
		c  Config
		ok bool
	)
	s.store.read(func(st *state) {
		if subject == "" || defaultToGlobal {
			c, ok = Config{CompatibilityLevel: st.level(subject)}, true
			if n := st.normalize(subject); n {
				c.Normalize = &n
			} else if v, set := st.config[subject]; set && v.Normalize != nil {
				c.Normalize = v.Normalize
			} else if v, set := st.config[""]; set && v.Normalize != nil {
				c.Normalize = v.Normalize
			}
			return
		}
		var v configValue
		v, ok = st.config[subject]
		c = Config(v)
	})
	if !ok {
		return Config{}, errorf(http.StatusNotFound, 40408, "Subject '%s' does not have subject-level compatibility configured", subject)
	}
	return c, nil
}

// SetConfig updates the configuration of subject ("" for global) and
// returns the update as applied.
func (s *Service) SetConfig(ctx context.Context, subject string, req ConfigUpdate) (ConfigUpdate, error) {
	if subject != "" && !validSubject(subject) {
		return ConfigUpdate{}, invalidSubject(subject)
	}
	var level Level
	if req.Compatibility != nil {
		l, ok := ParseLevel(*req.Compatibility)
		if !ok {
			return ConfigUpdate{}, errorf(http.StatusUnprocessableEntity, 42203, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
		}
		level = l
	}
	s.store.writeMu.Lock()
	defer s.store.writeMu.Unlock()
	var cur configValue
	s.store.read(func(st *state) { cur = st.config[subject] })
	if req.Compatibility != nil {
		cur.CompatibilityLevel = level
	}
	if req.Normalize != nil {
		cur.Normalize = req.Normalize
	}
	if err := s.store.putConfig(ctx, subject, &cur); err != nil {
		return ConfigUpdate{}, storeError(err)
	}
	out := ConfigUpdate{Normalize: req.Normalize}
	if req.Compatibility != nil {
		l := string(level)
		out.Compatibility = &l
	}
	return out, nil
}

// DeleteConfig removes the subject's configuration (or resets the global
// one) and returns what was set.
func (s *Service) DeleteConfig(ctx context.Context, subject string) (Config, error) {
	old, err := s.GetConfig(subject, false)
	if err != nil {
		return Config{}, subjectNotFound(subject) // Confluent's code for "nothing to delete"
	}
	if err := s.store.putConfig(ctx, subject, nil); err != nil {
		return Config{}, storeError(err)
	}
	return old, nil
}

// GetMode returns the mode of subject ("" for global).
func (s *Service) GetMode(subject string, defaultToGlobal bool) (string, error) {
	var (
		m  string
		ok bool
	)
	s.store.read(func(st *state) {
		if subject == "" || defaultToGlobal {
			m, ok = st.modeOf(subject), true
			return
		}
		m, ok = st.mode[subject]
	})
	if !ok {
		return "", errorf(http.StatusNotFound, 40409, "Subject '%s' does not have subject-level mode configured", subject)
	}
	return m, nil
}

// SetMode sets the mode of subject ("" for global), or clears it when
// mode is nil. As in Confluent, switching to IMPORT needs a registry (or
// subject) without live versions unless force, and then deletes the
// soft-deleted versions for good (42206 if one is still referenced).
func (s *Service) SetMode(ctx context.Context, subject string, mode *string, force bool) (*string, error) {
	if subject != "" && !validSubject(subject) {
		return nil, invalidSubject(subject)
	}
	if mode == nil {
		if err := s.store.putMode(ctx, subject, nil); err != nil {
			return nil, storeError(err)
		}
		return nil, nil
	}
	m := strings.ToUpper(strings.TrimSpace(*mode))
	switch m {
	case ModeReadWrite, ModeReadOnly, ModeReadOnlyOverride, ModeImport:
	default:
		return nil, errorf(http.StatusUnprocessableEntity, 42204, "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT.")
	}
	st := s.store
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	if err := st.Sync(ctx); err != nil {
		return nil, storeError(err)
	}
	if m == ModeImport && !force {
		var (
			purge []*version
			rerr  error
		)
		st.read(func(state *state) {
			if state.modeOf(subject) == ModeImport {
				return
			}
			for sub := range state.subjects {
				if subject != "" && sub != subject {
					continue
				}
				for _, v := range state.versionsOf(sub, true) {
					if !v.deleted {
						rerr = notPermitted("Cannot import since found existing subjects")
						return
					}
					purge = append(purge, v)
				}
			}
			for _, v := range purge {
				if len(state.referencedBy(v.value.Subject, v.value.Version, true)) > 0 {
					rerr = referenceExists(v.value.Subject, v.value.Version)
					return
				}
			}
		})
		if rerr != nil {
			return nil, rerr
		}
		for _, v := range purge {
			if err := st.setVersionState(ctx, v, versionStateValue{Deleted: true, Permanent: true}); err != nil {
				return nil, storeError(err)
			}
		}
	}
	if err := st.putMode(ctx, subject, &m); err != nil {
		return nil, storeError(err)
	}
	return &m, nil
}

// DeleteMode removes the subject's mode (or the global one, which then
// falls back to READWRITE) and returns the mode that was set.
func (s *Service) DeleteMode(ctx context.Context, subject string) (string, error) {
	old, err := s.GetMode(subject, false)
	if err != nil {
		return "", subjectNotFound(subject) // Confluent's code for "nothing to delete"
	}
	if err := s.store.putMode(ctx, subject, nil); err != nil {
		return "", storeError(err)
	}
	return old, nil
}

// AsError converts any error into a REST error.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return storeError(err)
}
