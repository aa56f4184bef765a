package core

import (
	"context"
	"fmt"
)

// AllLocalStorePartitionLags returns, for every changelogged store and
// each of its partitions this instance holds (an active task, running or
// still restoring, or a standby replica), how far the local copy is
// behind the store's changelog (Kafka Streams'
// KafkaStreams#allLocalStorePartitionLags): store name -> partition ->
// LagInfo. With it an application picks which copy of a partition to
// query with WithStaleStores, or whether one is current enough.
//
// A running active task is the source of its changelog and reports a lag
// of 0 (CurrentOffsetPosition is the end), as in Kafka Streams. A standby
// or restoring copy reports the changelog position of its committed data,
// which queries see (a standby commits every commit interval). The end
// offsets are listed from the brokers (the last stable offsets under
// exactly_once_v2), so each call costs a round trip: call it when a
// decision needs it, not for every query. It returns ErrNotReady (wrapped)
// before App.Run started, and the listing's error if it fails.
func (a *App) AllLocalStorePartitionLags(ctx context.Context) (map[string]map[int32]LagInfo, error) {
	type local struct {
		store string
		p     int32
		topic string
		pos   int64 // the committed position; -1 for a running active
	}
	var locals []local
	topics := map[string]bool{}
	a.queryable.each(func(store string, p int32, l localStore, stale bool) {
		lc := local{store: store, p: p, pos: -1}
		switch {
		case stale:
			lc.topic, lc.pos = l.cl.topic, l.cl.queryPos.Load()
		case a.topo.stores[store] != nil && !a.topo.stores[store].DisableLogging:
			lc.topic = ChangelogTopic(a.cfg.appID, store)
		default:
			return // no changelog: no lag to report
		}
		locals = append(locals, lc)
		topics[lc.topic] = true
	})
	out := map[string]map[int32]LagInfo{}
	if len(locals) == 0 {
		return out, nil
	}
	if a.admin == nil {
		return nil, fmt.Errorf("%w: AllLocalStorePartitionLags before Run", ErrNotReady)
	}
	names := make([]string, 0, len(topics))
	for topic := range topics {
		names = append(names, topic)
	}
	ends, err := a.listChangelogEnds(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("core: list changelog end offsets: %w", err)
	}
	for _, lc := range locals {
		end, ok := ends.Lookup(lc.topic, lc.p)
		if !ok {
			return nil, fmt.Errorf("core: end offset of changelog %s[%d] not listed", lc.topic, lc.p)
		}
		if end.Err != nil {
			return nil, fmt.Errorf("core: end offset of changelog %s[%d]: %w", lc.topic, lc.p, end.Err)
		}
		pos := lc.pos
		if pos < 0 {
			pos = end.Offset
		}
		if out[lc.store] == nil {
			out[lc.store] = map[int32]LagInfo{}
		}
		out[lc.store][lc.p] = newLagInfo(pos, end.Offset)
	}
	return out, nil
}
