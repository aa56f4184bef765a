package s3

import "context"

// FlushAll completes every open group of objects (connectors.SinkFlusher):
// a gracefully stopped sink leaves everything it consumed in the bucket.
// A partition whose upload failed is resumed first.
func (t *sinkTask) FlushAll(ctx context.Context) error {
	for _, pw := range t.parts {
		if pw.failed {
			if err := t.resume(ctx, pw); err != nil {
				return err
			}
		}
		if pw.group != nil && pw.group.count > 0 {
			if err := t.commit(ctx, pw); err != nil {
				return err
			}
		}
	}
	return nil
}
