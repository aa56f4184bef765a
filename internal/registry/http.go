package registry

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
)

// Content types Confluent clients send and accept.
const (
	ContentTypeV1      = "application/vnd.schemaregistry.v1+json"
	contentTypeGeneric = "application/vnd.schemaregistry+json"
	contentTypeJSON    = "application/json"
)

// BasicAuth, when non-empty, is required on every request.
type BasicAuth struct {
	User, Password string
}

// NewHandler routes the Confluent Schema Registry REST API to svc.
func NewHandler(svc *Service, auth BasicAuth, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{svc: svc, log: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { h.reply(w, r, http.StatusOK, map[string]any{}) })
	mux.HandleFunc("GET /v1/metadata/id", h.metadataID)
	mux.HandleFunc("GET /v1/metadata/version", h.metadataVersion)
	mux.HandleFunc("GET /subjects", h.subjects)
	mux.HandleFunc("GET /schemas", h.schemas)
	mux.HandleFunc("GET /subjects/{subject}/versions", h.versions)
	mux.HandleFunc("POST /subjects/{subject}/versions", h.register)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}", h.getVersion)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/schema", h.getVersionSchema)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/referencedby", h.referencedBy)
	mux.HandleFunc("DELETE /subjects/{subject}/versions/{version}", h.deleteVersion)
	mux.HandleFunc("POST /subjects/{subject}", h.lookup)
	mux.HandleFunc("DELETE /subjects/{subject}", h.deleteSubject)
	mux.HandleFunc("GET /schemas/ids/{id}", h.schemaByID)
	mux.HandleFunc("GET /schemas/ids/{id}/schema", h.schemaByIDRaw)
	mux.HandleFunc("GET /schemas/ids/{id}/subjects", h.subjectsByID)
	mux.HandleFunc("GET /schemas/ids/{id}/versions", h.versionsByID)
	mux.HandleFunc("GET /schemas/types", func(w http.ResponseWriter, r *http.Request) {
		h.reply(w, r, http.StatusOK, []string{SchemaTypeAvro})
	})
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions", h.compatibility)
	// Confluent's Java client sends this URL (trailing slash) when it
	// checks against every version the subject's level asks for.
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions/{$}", h.compatibility)
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions/{version}", h.compatibility)
	mux.HandleFunc("GET /config", h.getConfig)
	mux.HandleFunc("PUT /config", h.putConfig)
	mux.HandleFunc("DELETE /config", h.deleteConfig)
	mux.HandleFunc("GET /config/{subject}", h.getConfig)
	mux.HandleFunc("PUT /config/{subject}", h.putConfig)
	mux.HandleFunc("DELETE /config/{subject}", h.deleteConfig)
	mux.HandleFunc("GET /mode", h.getMode)
	mux.HandleFunc("PUT /mode", h.putMode)
	mux.HandleFunc("DELETE /mode", h.deleteMode)
	mux.HandleFunc("GET /mode/{subject}", h.getMode)
	mux.HandleFunc("PUT /mode/{subject}", h.putMode)
	mux.HandleFunc("DELETE /mode/{subject}", h.deleteMode)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, &Error{Status: http.StatusNotFound, Code: http.StatusNotFound, Message: "HTTP 404 Not Found"})
	})
	var root http.Handler = mux
	if auth.User != "" || auth.Password != "" {
		root = requireBasicAuth(auth, root, h)
	}
	return root
}

func requireBasicAuth(auth BasicAuth, next http.Handler, h *handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		userOK := subtle.ConstantTimeCompare([]byte(user), []byte(auth.User)) == 1
		passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(auth.Password)) == 1
		if !ok || !userOK || !passOK {
			w.Header().Set("WWW-Authenticate", `Basic realm="SchemaRegistry"`)
			h.fail(w, r, &Error{Status: http.StatusUnauthorized, Code: http.StatusUnauthorized, Message: "Unauthorized"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

type handler struct {
	svc *Service
	log *slog.Logger
}

// responseType picks the response content type from Accept: Confluent's v1
// type unless the client only takes application/json.
func responseType(r *http.Request) string {
	accept := r.Header.Get("Accept")
	if accept == "" || strings.Contains(accept, ContentTypeV1) || strings.Contains(accept, contentTypeGeneric) || strings.Contains(accept, "*/*") {
		return ContentTypeV1
	}
	if strings.Contains(accept, contentTypeJSON) {
		return contentTypeJSON
	}
	return ContentTypeV1
}

func (h *handler) reply(w http.ResponseWriter, r *http.Request, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		h.fail(w, r, storeError(err))
		return
	}
	w.Header().Set("Content-Type", responseType(r))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := AsError(err)
	if e.Status >= 500 {
		h.log.Error("registry: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	b, _ := json.Marshal(struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}{e.Code, e.Message})
	w.Header().Set("Content-Type", responseType(r))
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}

func (h *handler) done(w http.ResponseWriter, r *http.Request, body any, err error) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, r, http.StatusOK, body)
}

// MaxBodyBytes bounds a request body. Confluent's limit on a schema is the
// _schemas topic's record size (1 MB by default), which registration
// reports as 42209; a body over this bound is refused before parsing.
const MaxBodyBytes = 16 << 20

// decode reads a JSON body in one of the accepted content types. Errors
// are shaped like Confluent's (Jackson's mappers in rest-utils): a body
// that is not JSON is 400 with error_code 400; JSON of the wrong shape is
// 422 with error_code 422; a body over MaxBodyBytes is 413.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
			return &Error{Status: http.StatusUnsupportedMediaType, Code: http.StatusUnsupportedMediaType, Message: "HTTP 415 Unsupported Media Type"}
		case mt == ContentTypeV1, mt == contentTypeGeneric, mt == contentTypeJSON, mt == "application/octet-stream":
		default:
			return &Error{Status: http.StatusUnsupportedMediaType, Code: http.StatusUnsupportedMediaType, Message: "HTTP 415 Unsupported Media Type"}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: http.StatusRequestEntityTooLarge,
				Message: fmt.Sprintf("Request body larger than %d bytes", MaxBodyBytes)}
		}
		return &Error{Status: http.StatusBadRequest, Code: http.StatusBadRequest, Message: "reading request body: " + err.Error()}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return &Error{Status: http.StatusUnprocessableEntity, Code: http.StatusUnprocessableEntity, Message: "Request body is missing"}
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return &Error{Status: http.StatusUnprocessableEntity, Code: http.StatusUnprocessableEntity,
				Message: fmt.Sprintf("Cannot deserialize value of type %s from %s (field %q)", typeErr.Type, typeErr.Value, typeErr.Field)}
		}
		return &Error{Status: http.StatusBadRequest, Code: http.StatusBadRequest, Message: "Unexpected character or malformed JSON: " + err.Error()}
	}
	return nil
}

func flag(r *http.Request, name string) bool {
	v, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return v
}

func filter(r *http.Request) Filter {
	return Filter{Deleted: flag(r, "deleted"), DeletedOnly: flag(r, "deletedOnly")}
}

func page(r *http.Request) Page {
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	return Page{Offset: max(offset, 0), Limit: limit}
}

func (h *handler) subjects(w http.ResponseWriter, r *http.Request) {
	h.reply(w, r, http.StatusOK, h.svc.Subjects(r.URL.Query().Get("subjectPrefix"), filter(r), page(r)))
}

func (h *handler) schemas(w http.ResponseWriter, r *http.Request) {
	h.reply(w, r, http.StatusOK, h.svc.Schemas(r.URL.Query().Get("subjectPrefix"), filter(r), flag(r, "latestOnly"), page(r)))
}

func (h *handler) versions(w http.ResponseWriter, r *http.Request) {
	out, err := h.svc.Versions(r.PathValue("subject"), filter(r), page(r))
	h.done(w, r, out, err)
}

func (h *handler) metadataID(w http.ResponseWriter, r *http.Request) {
	h.reply(w, r, http.StatusOK, map[string]any{
		"id": "",
		"scope": map[string]any{
			"path": []string{},
			"clusters": map[string]string{
				"kafka-cluster":           h.svc.store.ClusterID(),
				"schema-registry-cluster": "schema-registry",
			},
		},
	})
}

func (h *handler) metadataVersion(w http.ResponseWriter, r *http.Request) {
	version, commit := "unknown", ""
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	h.reply(w, r, http.StatusOK, map[string]string{"version": version, "commitId": commit})
}

func (h *handler) register(w http.ResponseWriter, r *http.Request) {
	var req SchemaRequest
	if err := decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.RegisterWith(r.Context(), r.PathValue("subject"), req, RegisterOptions{Normalize: flag(r, "normalize"), Force: flag(r, "force")})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Confluent 7.x answers {"id"}; 8.x adds the version and the schema.
	h.reply(w, r, http.StatusOK, registerResponse{ID: out.ID, Version: out.Version, References: out.References, Schema: out.Schema})
}

func (h *handler) getVersion(w http.ResponseWriter, r *http.Request) {
	out, err := h.svc.GetVersion(r.PathValue("subject"), r.PathValue("version"), flag(r, "deleted"))
	h.done(w, r, out, err)
}

func (h *handler) getVersionSchema(w http.ResponseWriter, r *http.Request) {
	out, err := h.svc.GetVersion(r.PathValue("subject"), r.PathValue("version"), flag(r, "deleted"))
	h.raw(w, r, out.Schema, err)
}

// raw writes a stored schema as the body, as Confluent's .../schema does.
func (h *handler) raw(w http.ResponseWriter, r *http.Request, schema string, err error) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", responseType(r))
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, schema)
}

func (h *handler) referencedBy(w http.ResponseWriter, r *http.Request) {
	out, err := h.svc.ReferencedBy(r.PathValue("subject"), r.PathValue("version"), flag(r, "deleted"))
	h.done(w, r, out, err)
}

func (h *handler) deleteVersion(w http.ResponseWriter, r *http.Request) {
	out, err := h.svc.DeleteVersion(r.Context(), r.PathValue("subject"), r.PathValue("version"), flag(r, "permanent"))
	h.done(w, r, out, err)
}

func (h *handler) lookup(w http.ResponseWriter, r *http.Request) {
	var req SchemaRequest
	if err := decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.Lookup(r.PathValue("subject"), req, flag(r, "deleted"), flag(r, "normalize"))
	h.done(w, r, out, err)
}

func (h *handler) deleteSubject(w http.ResponseWriter, r *http.Request) {
	out, err := h.svc.DeleteSubject(r.Context(), r.PathValue("subject"), flag(r, "permanent"))
	h.done(w, r, out, err)
}

func pathID(r *http.Request) (int, error) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id < 0 {
		return 0, &Error{Status: http.StatusNotFound, Code: 40403, Message: "Schema " + r.PathValue("id") + " not found"}
	}
	return id, nil
}

func (h *handler) schemaByID(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.SchemaByIDIn(r.Context(), id, r.URL.Query().Get("subject"), flag(r, "fetchMaxId"))
	h.done(w, r, out, err)
}

func (h *handler) schemaByIDRaw(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.SchemaByIDLookup(r.Context(), id)
	h.raw(w, r, out.Schema, err)
}

func (h *handler) subjectsByID(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.SubjectsByID(r.Context(), id, flag(r, "deleted"))
	h.done(w, r, out, err)
}

func (h *handler) versionsByID(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.VersionsByID(r.Context(), id, flag(r, "deleted"))
	h.done(w, r, out, err)
}

func (h *handler) compatibility(w http.ResponseWriter, r *http.Request) {
	var req SchemaRequest
	if err := decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.TestCompatibility(r.PathValue("subject"), r.PathValue("version"), req, flag(r, "verbose"))
	h.done(w, r, out, err)
}

func (h *handler) getConfig(w http.ResponseWriter, r *http.Request) {
	c, err := h.svc.GetConfig(r.PathValue("subject"), flag(r, "defaultToGlobal"))
	h.done(w, r, c, err)
}

func (h *handler) putConfig(w http.ResponseWriter, r *http.Request) {
	var req ConfigUpdate
	if err := decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	out, err := h.svc.SetConfig(r.Context(), r.PathValue("subject"), req)
	h.done(w, r, out, err)
}

func (h *handler) deleteConfig(w http.ResponseWriter, r *http.Request) {
	c, err := h.svc.DeleteConfig(r.Context(), r.PathValue("subject"))
	h.done(w, r, c, err)
}

func (h *handler) getMode(w http.ResponseWriter, r *http.Request) {
	m, err := h.svc.GetMode(r.PathValue("subject"), flag(r, "defaultToGlobal"))
	h.done(w, r, map[string]string{"mode": m}, err)
}

func (h *handler) putMode(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Mode *string `json:"mode"`
	}
	if err := decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := h.svc.SetMode(r.Context(), r.PathValue("subject"), req.Mode, flag(r, "force"))
	h.done(w, r, map[string]*string{"mode": m}, err)
}

func (h *handler) deleteMode(w http.ResponseWriter, r *http.Request) {
	m, err := h.svc.DeleteMode(r.Context(), r.PathValue("subject"))
	h.done(w, r, map[string]string{"mode": m}, err)
}

// registerResponse is the answer to a registration.
type registerResponse struct {
	ID         int         `json:"id"`
	Version    int         `json:"version"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
}
