package postgrescdc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// replStream owns a replication connection in streaming mode: one
// goroutine reads it, decodes the messages into a bounded queue and sends
// the standby status updates (the connection is never used by two
// goroutines). The task confirms positions by storing them in flush; the
// reader sends them promptly.
type replStream struct {
	conn           *pgconn.PgConn
	queue          chan *walMessage
	statusInterval time.Duration

	flush   atomic.Uint64 // the position to confirm (0: none yet)
	flushed atomic.Uint64 // the last position sent to the server
	wake    chan struct{}

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	errMu    sync.Mutex
	err      error
}

// startStream issues START_REPLICATION on conn (pgoutput, protocol 1,
// the publication, logical decoding messages) and starts the reader.
func startStream(ctx context.Context, conn *pgconn.PgConn, slot, publication string, start uint64, queueSize int, statusInterval time.Duration, confirmed uint64) (*replStream, error) {
	err := pglogrepl.StartReplication(ctx, conn, slot, pglogrepl.LSN(start), pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names '" + publication + "'", "messages 'true'"},
	})
	if err != nil {
		return nil, err
	}
	s := &replStream{conn: conn, queue: make(chan *walMessage, queueSize), statusInterval: statusInterval,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.flush.Store(confirmed)
	go s.run()
	return s, nil
}

// confirm asks the reader to confirm lsn (it never moves back).
func (s *replStream) confirm(lsn uint64) {
	for {
		cur := s.flush.Load()
		if lsn <= cur {
			return
		}
		if s.flush.CompareAndSwap(cur, lsn) {
			break
		}
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// failure returns the error that ended the reader, once the queue is
// drained and closed.
func (s *replStream) failure() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

func (s *replStream) fail(err error) {
	s.errMu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.errMu.Unlock()
}

// close stops the reader and closes the connection.
func (s *replStream) close() {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}

func (s *replStream) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// readTimeout bounds each read, so that confirmations and stops are acted
// on promptly while the server is quiet.
const readTimeout = 100 * time.Millisecond

func (s *replStream) run() {
	defer close(s.done)
	defer close(s.queue)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.conn.Close(ctx)
		cancel()
	}()
	nextStatus := time.Now()
	var deadlineSet time.Time
	for {
		if s.stopped() {
			s.fail(errStreamStopped)
			return
		}
		now := time.Now()
		if now.After(nextStatus) || s.flush.Load() != s.flushed.Load() {
			if err := s.sendStatus(false); err != nil {
				s.fail(err)
				return
			}
			nextStatus = now.Add(s.statusInterval)
		}
		if now.Sub(deadlineSet) > readTimeout/2 {
			_ = s.conn.Conn().SetReadDeadline(now.Add(readTimeout))
			deadlineSet = now
		}
		msg, err := s.conn.ReceiveMessage(context.Background())
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				deadlineSet = time.Time{}
				continue
			}
			s.fail(fmt.Errorf("postgres-cdc: replication connection: %w", err))
			return
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				continue
			}
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					s.fail(fmt.Errorf("postgres-cdc: keepalive: %w", err))
					return
				}
				if !s.put(&walMessage{kind: 'k', walEnd: uint64(ka.ServerWALEnd)}) {
					return
				}
				if ka.ReplyRequested {
					nextStatus = time.Time{}
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					s.fail(fmt.Errorf("postgres-cdc: XLogData: %w", err))
					return
				}
				wm, err := decodePgoutput(xld.WALData)
				if err != nil {
					s.fail(fmt.Errorf("postgres-cdc: at %s: %w", formatLSN(uint64(xld.WALStart)), err))
					return
				}
				wm.walStart = uint64(xld.WALStart)
				if !s.put(wm) {
					return
				}
			}
		case *pgproto3.ErrorResponse:
			s.fail(fmt.Errorf("postgres-cdc: replication: %w", pgconn.ErrorResponseToPgError(m)))
			return
		case *pgproto3.CopyDone:
			s.fail(errors.New("postgres-cdc: the server ended replication"))
			return
		}
	}
}

var errStreamStopped = errors.New("postgres-cdc: replication stream stopped")

// put queues a message, waiting while the queue is full (still answering
// the server, whose wal_sender_timeout would otherwise end the
// connection). It returns false when the reader must stop.
func (s *replStream) put(m *walMessage) bool {
	select {
	case s.queue <- m:
		return true
	default:
	}
	t := time.NewTimer(s.statusInterval)
	defer t.Stop()
	for {
		select {
		case s.queue <- m:
			return true
		case <-s.stop:
			s.fail(errStreamStopped)
			return false
		case <-s.wake:
			if err := s.sendStatus(false); err != nil {
				s.fail(err)
				return false
			}
		case <-t.C:
			if err := s.sendStatus(false); err != nil {
				s.fail(err)
				return false
			}
			t.Reset(s.statusInterval)
		}
	}
}

// sendStatus reports the confirmed position as written, flushed and
// applied. Reporting only what is confirmed (not what was received) keeps
// the server sending keepalives while it has WAL beyond it, which is how
// an idle connector learns positions it may confirm.
func (s *replStream) sendStatus(reply bool) error {
	lsn := s.flush.Load()
	err := pglogrepl.SendStandbyStatusUpdate(context.Background(), s.conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: pglogrepl.LSN(lsn), WALFlushPosition: pglogrepl.LSN(lsn), WALApplyPosition: pglogrepl.LSN(lsn),
		ReplyRequested: reply,
	})
	if err != nil {
		return fmt.Errorf("postgres-cdc: send standby status: %w", err)
	}
	s.flushed.Store(lsn)
	return nil
}
