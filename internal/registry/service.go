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

// SchemaByID is Confluent's GET /schemas/ids/{id} response.
type SchemaByID struct {
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
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

// Register registers req under subject and returns its global id (and
// version), or the existing ones when the subject already has the schema.
func (s *Service) Register(ctx context.Context, subject string, req SchemaRequest) (SubjectVersion, error) {
	if subject == "" {
		return SubjectVersion{}, errorf(http.StatusUnprocessableEntity, 42208, "Invalid subject %s", subject)
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
			result SubjectVersion
			claim  *schemaValue
			rerr   error
		)
		st.read(func(state *state) {
			result, claim, rerr = s.planRegister(state, subject, req)
		})
		if rerr != nil || claim == nil {
			return result, rerr
		}
		if s.beforeClaim != nil {
			s.beforeClaim(attempt)
		}
		accepted, err := st.claim(ctx, *claim)
		if err != nil {
			return SubjectVersion{}, storeError(err)
		}
		if accepted {
			return SubjectVersion{Subject: subject, ID: claim.ID, Version: claim.Version, Schema: claim.Schema, References: claim.References}, nil
		}
		// Another instance's write came first: decide again on fresh state.
	}
	return SubjectVersion{}, storeError(fmt.Errorf("registration of subject %q lost %d races in a row", subject, maxClaimAttempts))
}

// planRegister decides a registration on the current state: the existing
// registration to return, an error, or the claim to append.
func (s *Service) planRegister(st *state, subject string, req SchemaRequest) (SubjectVersion, *schemaValue, error) {
	mode := st.modeOf(subject)
	if isReadOnly(mode) {
		return SubjectVersion{}, nil, readOnly(subject)
	}
	importing := mode == ModeImport
	if (req.ID > 0 || req.Version > 0) && !importing {
		return SubjectVersion{}, nil, errorf(http.StatusUnprocessableEntity, 42205, "Subject %s is not in import mode: a schema id or version can only be given in IMPORT mode", subject)
	}
	refs := resolveRefs(st, req.References)
	parsed, err := ParseSchema(req.SchemaType, req.Schema, refs, lookupIn(st))
	if err != nil {
		return SubjectVersion{}, nil, invalidSchema(err)
	}
	identity := parsed.identity()
	if req.ID <= 0 {
		for _, v := range st.versionsOf(subject, false) {
			if v.value.Identity == identity {
				return SubjectVersion{Subject: subject, ID: v.value.ID, Version: v.value.Version, Schema: v.value.Schema, References: v.value.References}, nil, nil
			}
		}
	}
	id, known := st.byIdentity[identity]
	if req.ID > 0 {
		if other, ok := st.ids[req.ID]; ok && other.identity != identity {
			return SubjectVersion{}, nil, errorf(http.StatusUnprocessableEntity, 42207, "Overwrite new schema with id %d is not permitted.", req.ID)
		}
		if known && id != req.ID {
			return SubjectVersion{}, nil, errorf(http.StatusUnprocessableEntity, 42207, "Schema already registered with id %d instead of input id %d", id, req.ID)
		}
		id, known = req.ID, true
	}
	if !known {
		id = st.maxID + 1
	}
	ver := st.nextVersion(subject)
	if req.Version > 0 {
		if _, taken := st.subjects[subject][req.Version]; taken {
			return SubjectVersion{}, nil, errorf(http.StatusUnprocessableEntity, 42201, "Invalid schema: version %d of subject %s is already taken", req.Version, subject)
		}
		ver = req.Version
	}
	if !importing {
		prev, err := s.previous(st, st.versionsOf(subject, false))
		if err != nil {
			return SubjectVersion{}, nil, storeError(err)
		}
		if msgs := CheckCompatibility(st.level(subject), parsed, prev); len(msgs) > 0 {
			return SubjectVersion{}, nil, errorf(http.StatusConflict, 40901,
				"Schema being registered is incompatible with an earlier schema for subject \"%s\", details: [%s]", subject, strings.Join(msgs, ", "))
		}
	}
	return SubjectVersion{}, &schemaValue{
		Subject:    subject,
		Version:    ver,
		ID:         id,
		Schema:     parsed.Text,
		References: refs,
		Identity:   identity,
	}, nil
}

// Lookup finds req among the subject's versions (POST /subjects/{s}).
func (s *Service) Lookup(subject string, req SchemaRequest, includeDeleted bool) (SubjectVersion, error) {
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
		refs := resolveRefs(st, req.References)
		parsed, perr := ParseSchema(req.SchemaType, req.Schema, refs, lookupIn(st))
		if perr != nil {
			err = invalidSchema(perr)
			return
		}
		identity := parsed.identity()
		for i := len(all) - 1; i >= 0; i-- {
			if all[i].value.Identity == identity {
				out = toSubjectVersion(all[i])
				return
			}
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

// Subjects lists subjects with live versions (or soft-deleted ones too).
func (s *Service) Subjects(includeDeleted bool, prefix string) []string {
	out := []string{}
	s.store.read(func(st *state) {
		for subject := range st.subjects {
			if strings.HasPrefix(subject, prefix) && len(st.versionsOf(subject, includeDeleted)) > 0 {
				out = append(out, subject)
			}
		}
	})
	sort.Strings(out)
	return out
}

// Versions lists a subject's version numbers.
func (s *Service) Versions(subject string, includeDeleted bool) ([]int, error) {
	var out []int
	s.store.read(func(st *state) {
		for _, v := range st.versionsOf(subject, includeDeleted) {
			out = append(out, v.value.Version)
		}
	})
	if len(out) == 0 {
		return nil, subjectNotFound(subject)
	}
	return out, nil
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

// ReferencedBy lists ids of schemas referencing subject/version.
func (s *Service) ReferencedBy(subject, versionStr string) ([]int, error) {
	var (
		out []int
		err error
	)
	s.store.read(func(st *state) {
		var v *version
		if v, err = findVersion(st, subject, versionStr, false); err == nil {
			out = st.referencedBy(subject, v.value.Version, false)
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
	var out SchemaByID
	found := func() bool {
		ok := false
		s.store.read(func(st *state) {
			if sch := st.ids[id]; sch != nil && sch.visible() {
				out, ok = SchemaByID{Schema: sch.text, References: sch.refs}, true
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

// GetConfig returns the level of subject ("" for the global level).
func (s *Service) GetConfig(subject string, defaultToGlobal bool) (Level, error) {
	var (
		l  Level
		ok bool
	)
	s.store.read(func(st *state) {
		if subject == "" || defaultToGlobal {
			l, ok = st.level(subject), true
			return
		}
		l, ok = st.config[subject]
	})
	if !ok {
		return "", errorf(http.StatusNotFound, 40408, "Subject '%s' does not have subject-level compatibility configured", subject)
	}
	return l, nil
}

// SetConfig sets the level of subject ("" for global).
func (s *Service) SetConfig(ctx context.Context, subject, level string) (Level, error) {
	l, ok := ParseLevel(level)
	if !ok {
		return "", errorf(http.StatusUnprocessableEntity, 42203, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
	}
	if err := s.store.putConfig(ctx, subject, &l); err != nil {
		return "", storeError(err)
	}
	return l, nil
}

// DeleteConfig removes the subject's level (or resets the global one) and
// returns the level that was set.
func (s *Service) DeleteConfig(ctx context.Context, subject string) (Level, error) {
	old, err := s.GetConfig(subject, false)
	if err != nil {
		return "", subjectNotFound(subject) // Confluent's code for "nothing to delete"
	}
	if err := s.store.putConfig(ctx, subject, nil); err != nil {
		return "", storeError(err)
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

// SetMode sets the mode of subject ("" for global). Switching to IMPORT
// needs an empty registry (or subject) unless force.
func (s *Service) SetMode(ctx context.Context, subject, mode string, force bool) (string, error) {
	mode = strings.ToUpper(strings.TrimSpace(mode))
	switch mode {
	case ModeReadWrite, ModeReadOnly, ModeReadOnlyOverride, ModeImport:
	default:
		return "", errorf(http.StatusUnprocessableEntity, 42204, "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT.")
	}
	if mode == ModeImport && !force {
		var nonEmpty bool
		s.store.read(func(st *state) {
			if subject == "" {
				for sub := range st.subjects {
					if len(st.versionsOf(sub, true)) > 0 {
						nonEmpty = true
					}
				}
			} else {
				nonEmpty = len(st.versionsOf(subject, true)) > 0
			}
		})
		if nonEmpty {
			return "", errorf(http.StatusUnprocessableEntity, 42205, "Cannot import since found existing subjects")
		}
	}
	if err := s.store.putMode(ctx, subject, &mode); err != nil {
		return "", storeError(err)
	}
	return mode, nil
}

// DeleteMode removes the subject's mode and returns the mode that was set.
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
