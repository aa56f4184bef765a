package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/minio/minio-go/v7"
)

// bufferPool recycles part buffers of one sink task (not safe for
// concurrent use: a task is driven by one goroutine). A buffer grows with
// its object up to one part; completed objects give their buffers back,
// so the next objects reuse them instead of growing new ones. At most a
// few are kept, so an idle task holds at most that many parts.
type bufferPool struct {
	partSize int
	free     [][]byte
}

const maxFreeBuffers = 4

// get returns the largest free buffer, or nil.
func (p *bufferPool) get() []byte {
	best := -1
	for i, b := range p.free {
		if best < 0 || cap(b) > cap(p.free[best]) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	b := p.free[best]
	p.free[best] = p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	return b[:0]
}

func (p *bufferPool) put(b []byte) {
	if cap(b) < 64<<10 {
		return
	}
	if len(p.free) < maxFreeBuffers {
		p.free = append(p.free, b[:0])
		return
	}
	// Keep the larger buffers.
	for i, f := range p.free {
		if cap(f) < cap(b) {
			p.free[i] = b[:0]
			return
		}
	}
}

// objectUpload streams one object into S3. Bytes are gathered into a part
// buffer of s3.part.size; each full part is uploaded at once (the first
// one starts a multipart upload) and its buffer reused, so an object never
// takes more than one part of memory however large it grows. An object
// smaller than a part is uploaded with one PUT when it is finished.
//
// Failures do not lose bytes: a part that could not be uploaded is kept
// (with the parts after it, if writing goes on) and retry uploads it
// again; Write itself never fails, so the format writer above it stays
// consistent, and the owner checks err after each record.
//
// Not safe for concurrent use. ctx is the context of the call in progress
// (the owner sets it before writing), because io.Writer takes none.
type objectUpload struct {
	st          *store
	pool        *bufferPool
	key         string
	contentType string
	partSize    int
	meta        map[string]string // user metadata known when the object starts

	ctx      context.Context
	buf      []byte
	uploadID string
	parts    []minio.CompletePart
	pending  []pendingPart // parts waiting for a retry, in order
	nextPart int           // number of the next part to cut
	size     int64         // bytes written so far
	err      error         // the first failure since the last successful retry

	finalCut  bool // the last (short) part has been cut into pending or uploaded
	completed bool
}

type pendingPart struct {
	number int
	data   []byte
}

func newObjectUpload(st *store, pool *bufferPool, key, contentType string, meta map[string]string) *objectUpload {
	return &objectUpload{st: st, pool: pool, key: key, contentType: contentType, partSize: pool.partSize, meta: meta, nextPart: 1}
}

// Write buffers p, uploading every part that fills. It never returns an
// error: see err.
func (u *objectUpload) Write(p []byte) (int, error) {
	n := len(p)
	u.size += int64(n)
	for len(p) > 0 {
		if u.buf == nil {
			u.buf = u.pool.get()
		}
		room := u.partSize - len(u.buf)
		take := min(room, len(p))
		if cap(u.buf)-len(u.buf) < take {
			// Grow geometrically, but never beyond one part: small
			// objects take small buffers.
			c := min(u.partSize, max(2*cap(u.buf), len(u.buf)+take, 64<<10))
			nb := make([]byte, len(u.buf), c)
			copy(nb, u.buf)
			u.buf = nb
		}
		u.buf = append(u.buf, p[:take]...)
		p = p[take:]
		if len(u.buf) == u.partSize {
			u.cutPart()
		}
	}
	return n, nil
}

// cutPart uploads the full buffer as the next part, or keeps it pending
// after an earlier failure (parts must not be lost, and the upload is
// retried by retry, not here).
func (u *objectUpload) cutPart() {
	part := pendingPart{number: u.nextPart, data: u.buf}
	u.nextPart++
	u.buf = nil
	if u.err != nil {
		u.pending = append(u.pending, part)
		return
	}
	if err := u.uploadPart(part); err != nil {
		u.err = err
		u.pending = append(u.pending, part)
		return
	}
	u.buf = part.data[:0]
}

func (u *objectUpload) uploadPart(part pendingPart) error {
	ctx := u.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if u.uploadID == "" {
		id, err := u.st.core.NewMultipartUpload(ctx, u.st.bucket, u.key, minio.PutObjectOptions{
			UserMetadata: u.meta,
			ContentType:  u.contentType,
		})
		if err != nil {
			return u.st.wrap("start multipart upload of", u.key, err)
		}
		u.uploadID = id
	}
	info, err := u.st.core.PutObjectPart(ctx, u.st.bucket, u.key, u.uploadID, part.number,
		bytes.NewReader(part.data), int64(len(part.data)),
		minio.PutObjectPartOptions{Sha256Hex: u.st.payloadHash(part.data), DisableContentSha256: true})
	if err != nil {
		return u.st.wrap(fmt.Sprintf("upload part %d of", part.number), u.key, err)
	}
	u.parts = append(u.parts, minio.CompletePart{PartNumber: part.number, ETag: info.ETag})
	return nil
}

// retry uploads the parts that failed before. It returns the first error.
func (u *objectUpload) retry(ctx context.Context) error {
	if u.err == nil && len(u.pending) == 0 {
		return nil
	}
	u.ctx = ctx
	u.err = nil
	for len(u.pending) > 0 {
		part := u.pending[0]
		if err := u.uploadPart(part); err != nil {
			u.err = err
			return err
		}
		u.pending = u.pending[1:]
		if u.buf == nil {
			u.buf = part.data[:0]
		} else {
			u.pool.put(part.data)
		}
	}
	return nil
}

// finish completes the object with the final user metadata: one PUT for an
// object that never filled a part, else the last part and the completion
// of the multipart upload. It may be called again after a failure and
// resumes where it stopped; uploads are idempotent (same key, same bytes).
func (u *objectUpload) finish(ctx context.Context, meta map[string]string) error {
	if u.completed {
		return nil
	}
	u.ctx = ctx
	if u.uploadID == "" && len(u.pending) == 0 && !u.finalCut {
		// The whole object is in one buffer: a single PUT carries all the
		// metadata, including what is known only now.
		_, err := u.st.core.PutObject(ctx, u.st.bucket, u.key, bytes.NewReader(u.buf), int64(len(u.buf)), "", u.st.payloadHash(u.buf),
			minio.PutObjectOptions{UserMetadata: meta, ContentType: u.contentType, DisableContentSha256: true})
		if err != nil {
			return u.st.wrap("upload", u.key, err)
		}
		u.completed = true
		u.release()
		return nil
	}
	if !u.finalCut {
		u.finalCut = true
		if len(u.buf) > 0 {
			u.pending = append(u.pending, pendingPart{number: u.nextPart, data: u.buf})
			u.nextPart++
			u.buf = nil
		}
		u.err = errPendingFinal
	}
	if err := u.retry(ctx); err != nil {
		return err
	}
	parts := append([]minio.CompletePart(nil), u.parts...)
	sort.Slice(parts, func(i, j int) bool { return parts[i].PartNumber < parts[j].PartNumber })
	_, err := u.st.core.CompleteMultipartUpload(ctx, u.st.bucket, u.key, u.uploadID, parts, minio.PutObjectOptions{})
	if err != nil {
		// A completion whose response was lost leaves no upload to
		// complete: if the object is there with our size, it is done.
		if isNotFound(err) {
			if info, serr := u.st.client.StatObject(ctx, u.st.bucket, u.key, minio.StatObjectOptions{}); serr == nil && info.Size == u.size {
				u.completed = true
				u.release()
				return nil
			}
		}
		return u.st.wrap("complete multipart upload of", u.key, err)
	}
	u.completed = true
	u.release()
	return nil
}

// errPendingFinal makes retry upload the final part cut by finish.
var errPendingFinal = errors.New("s3: final part pending")

// abort gives up the object: an unfinished multipart upload is aborted
// (best effort; a bucket lifecycle rule should also abort incomplete
// uploads, as for every S3 writer that can crash).
func (u *objectUpload) abort(ctx context.Context) {
	if u.uploadID != "" && !u.completed {
		_ = u.st.core.AbortMultipartUpload(ctx, u.st.bucket, u.key, u.uploadID)
	}
	u.completed = true
	u.release()
}

func (u *objectUpload) release() {
	if u.buf != nil {
		u.pool.put(u.buf)
		u.buf = nil
	}
	for _, p := range u.pending {
		u.pool.put(p.data)
	}
	u.pending = nil
}
