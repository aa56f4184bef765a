package s3

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"

	"github.com/sluicehq/sluice/connectors"
)

// Recovery in Assign: where does a partition's output in the bucket end?
//
// Objects of a partition are written in commit groups (all objects open
// for the partition between two commits), and a group's objects are
// started only after the previous group's objects all completed. So every
// group before the last one present in the bucket is complete, and the
// last one (the group of the object with the highest start offset) may be
// complete or cut short by a crash.
//
// The sink seeks the consumer to the start of that last group (recorded
// in each object's metadata, sluice-group-start), or past it when the
// group is provably complete (every object of the group was uploaded with
// one PUT carrying the group's object count and next offset). Records of
// the earlier, complete groups are thus never written again, whatever the
// committed consumer offset says. Rewriting the last group from its start
// overwrites each of its objects: an object's key is fixed by its encoded
// partition and the offset of its first record, and re-delivery from the
// group start gives each encoded partition the same first record even if
// the group is then cut at another point (a scheduled rotation). So the
// recovered sink leaves no duplicate in the bucket even when rotation is
// not deterministic, as long as the encoded partition of a record is
// (not so with timestamp.extractor=Wallclock).
//
// Finding the last group needs the partition's objects: with
// DefaultPartitioner they share one prefix, searched with O(log offset)
// small listings; other partitioners spread them over directories, which
// only a listing of the topic's whole directory finds (recovery.scan=full).

// recoverAll runs recover for several partitions, a few at a time.
func (t *sinkTask) recoverAll(ctx context.Context, tps []connectors.TopicPartition) ([]recovered, error) {
	out := make([]recovered, len(tps))
	errs := make([]error, len(tps))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, tp := range tps {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			next, ok, err := t.recover(ctx, tp)
			out[i], errs[i] = recovered{next: next, ok: ok}, err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

type recovered struct {
	next int64
	ok   bool
}

// recover returns the offset to resume tp from, if the bucket tells.
func (t *sinkTask) recover(ctx context.Context, tp connectors.TopicPartition) (int64, bool, error) {
	mode := t.cfg.recovery
	if mode == "none" {
		return 0, false, nil
	}
	if t.cfg.partitioner.kind == partitionerDefault {
		prefix := t.objectKey(tp, "partition="+strconv.Itoa(int(tp.Partition)), 0)
		prefix = strings.TrimSuffix(prefix, padOffset(0, t.cfg.padWidth)+t.cfg.ext)
		last, found, err := t.lastInPrefix(ctx, prefix)
		if err != nil || !found {
			return 0, false, err
		}
		return t.resumePoint(ctx, tp, []offsetKey{last}, last)
	}
	if mode != "full" {
		return 0, false, nil
	}
	dir := tp.Topic + t.cfg.dirDelim
	if strings.TrimSpace(t.cfg.topicsDir) != "" {
		dir = t.cfg.topicsDir + t.cfg.dirDelim + dir
	}
	namePrefix := tp.Topic + t.cfg.fileDelim + strconv.Itoa(int(tp.Partition)) + t.cfg.fileDelim
	var last offsetKey
	found := false
	err := t.listOffsets(ctx, dir, namePrefix, func(ok offsetKey) {
		if !found || ok.offset > last.offset {
			last, found = ok, true
		}
	})
	if err != nil || !found {
		return 0, false, err
	}
	info, err := t.st.client.StatObject(ctx, t.st.bucket, last.key, minio.StatObjectOptions{})
	if err != nil {
		return 0, false, t.st.wrap("read metadata of", last.key, err)
	}
	start, ok := metaInt(info.UserMetadata, metaGroupStart)
	if !ok {
		t.log.Warn("s3: the last object of the partition has no sluice-group-start metadata (written by another sink?): not seeking; exactly-once then relies on deterministic object keys",
			"partition", tp.String(), "object", last.key)
		return 0, false, nil
	}
	var group []offsetKey
	err = t.listOffsets(ctx, dir, namePrefix, func(ok offsetKey) {
		if ok.offset >= start && ok.offset <= last.offset {
			group = append(group, ok)
		}
	})
	if err != nil {
		return 0, false, err
	}
	return t.resumePoint(ctx, tp, group, last)
}

// offsetKey is an object key and the start offset in its name.
type offsetKey struct {
	key    string
	offset int64
}

// resumePoint reads the metadata of the last group's objects: past the
// group if it is provably complete, else its start.
func (t *sinkTask) resumePoint(ctx context.Context, tp connectors.TopicPartition, group []offsetKey, last offsetKey) (int64, bool, error) {
	start := last.offset
	var next int64 = -1
	complete := true
	for _, ok := range group {
		info, err := t.st.client.StatObject(ctx, t.st.bucket, ok.key, minio.StatObjectOptions{})
		if err != nil {
			if isNotFound(err) {
				complete = false
				continue
			}
			return 0, false, t.st.wrap("read metadata of", ok.key, err)
		}
		if s, has := metaInt(info.UserMetadata, metaGroupStart); has && ok == last {
			start = s
		}
		n, hasNext := metaInt(info.UserMetadata, metaGroupNext)
		files, hasFiles := metaInt(info.UserMetadata, metaGroupFiles)
		if !hasNext || !hasFiles || files != int64(len(group)) || (next >= 0 && n != next) {
			complete = false
			continue
		}
		next = n
	}
	if complete && next >= 0 {
		t.log.Info("s3: partition's output ends with a complete group; resuming after it", "partition", tp.String(), "offset", next, "object", last.key)
		return next, true, nil
	}
	t.log.Info("s3: resuming the partition at the start of its last group in the bucket (rewriting it)", "partition", tp.String(), "offset", start, "object", last.key)
	return start, true, nil
}

// lastInPrefix finds the object with the highest start offset among the
// keys prefix+<offset><ext>. Zero-padded offsets sort as numbers, so a
// binary search with ListObjectsV2 start-after finds it in about
// log2(10^width) one-key listings; a partition with at most one page of
// objects takes one listing. Offsets of more digits than the padding
// (which break that order) are handled by a full listing.
func (t *sinkTask) lastInPrefix(ctx context.Context, prefix string) (offsetKey, bool, error) {
	page, err := t.st.core.ListObjectsV2(t.st.bucket, prefix, "", "", "", t.listPage)
	if err != nil {
		return offsetKey{}, false, t.st.wrap("list", prefix, err)
	}
	if !page.IsTruncated {
		return t.maxOffset(prefix, page.Contents)
	}
	exists := func(x int64) (bool, error) {
		p, err := t.st.core.ListObjectsV2(t.st.bucket, prefix, prefix+padOffset(x, t.cfg.padWidth), "", "", 1)
		if err != nil {
			return false, t.st.wrap("list", prefix, err)
		}
		// Keys that sort after every offset (prefix+"notes.txt") do not
		// count; keys that sort before them are never after startAfter.
		return len(p.Contents) > 0 && isDigitAfter(p.Contents[0].Key, prefix), nil
	}
	width := min(t.cfg.padWidth, 18)
	lo, hi := int64(0), int64(1)
	for range width {
		hi *= 10
	}
	hi-- // exists(lo) holds (the listing is not empty); find the largest x with exists(x)
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		ok, err := exists(mid)
		if err != nil {
			return offsetKey{}, false, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	tail, err := t.st.core.ListObjectsV2(t.st.bucket, prefix, prefix+padOffset(lo, t.cfg.padWidth), "", "", 1000)
	if err != nil {
		return offsetKey{}, false, t.st.wrap("list", prefix, err)
	}
	last, found, err := t.maxOffset(prefix, tail.Contents)
	if err == nil && found && !tail.IsTruncated && len(strconv.FormatInt(last.offset, 10)) <= t.cfg.padWidth {
		return last, true, nil
	}
	// Unexpected keys after the maximum (other extensions, offsets wider
	// than the padding): list everything.
	var best offsetKey
	found = false
	marker := ""
	for {
		p, err := t.st.core.ListObjectsV2(t.st.bucket, prefix, "", marker, "", 1000)
		if err != nil {
			return offsetKey{}, false, t.st.wrap("list", prefix, err)
		}
		if m, ok, _ := t.maxOffset(prefix, p.Contents); ok && (!found || m.offset > best.offset) {
			best, found = m, true
		}
		if !p.IsTruncated || p.NextContinuationToken == "" {
			return best, found, nil
		}
		marker = p.NextContinuationToken
	}
}

func isDigitAfter(key, prefix string) bool {
	rest, ok := strings.CutPrefix(key, prefix)
	return ok && rest != "" && rest[0] >= '0' && rest[0] <= '9'
}

// maxOffset picks the key with the highest offset among keys of the form
// prefix+<digits><ext>; other keys are ignored.
func (t *sinkTask) maxOffset(prefix string, objs []minio.ObjectInfo) (offsetKey, bool, error) {
	var best offsetKey
	found := false
	for _, o := range objs {
		off, ok := parseOffsetName(strings.TrimPrefix(o.Key, prefix), t.cfg.ext)
		if !ok || !strings.HasPrefix(o.Key, prefix) {
			continue
		}
		if !found || off > best.offset {
			best, found = offsetKey{key: o.Key, offset: off}, true
		}
	}
	return best, found, nil
}

// parseOffsetName parses "<digits><ext>".
func parseOffsetName(s, ext string) (int64, bool) {
	digits, ok := strings.CutSuffix(s, ext)
	if !ok || digits == "" {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	return v, err == nil
}

// listOffsets calls fn for every object under dir (recursively) whose file
// name is namePrefix<digits><ext>.
func (t *sinkTask) listOffsets(ctx context.Context, dir, namePrefix string, fn func(offsetKey)) error {
	for obj := range t.st.client.ListObjects(ctx, t.st.bucket, minio.ListObjectsOptions{Prefix: dir, Recursive: true}) {
		if obj.Err != nil {
			return t.st.wrap("list", dir, obj.Err)
		}
		name := obj.Key
		if i := strings.LastIndex(name, t.cfg.dirDelim); i >= 0 {
			name = name[i+len(t.cfg.dirDelim):]
		}
		rest, ok := strings.CutPrefix(name, namePrefix)
		if !ok {
			continue
		}
		if off, ok := parseOffsetName(rest, t.cfg.ext); ok {
			fn(offsetKey{key: obj.Key, offset: off})
		}
	}
	return nil
}

// metaInt reads an integer user metadata value, whatever the case of its
// key (S3 canonicalizes header names).
func metaInt(meta map[string]string, key string) (int64, bool) {
	for k, v := range meta {
		if strings.EqualFold(k, key) || strings.EqualFold(k, "X-Amz-Meta-"+key) {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
