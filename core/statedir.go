package core

import (
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/sluicehq/sluice/state"
)

// stateDirs owns the task state directories of one instance
// ("<state dir>/<application id>/<task>"): it counts the engines open in
// each, and removes the directories of tasks this instance no longer runs
// once they were left alone for the cleanup delay, as Kafka Streams'
// state directory cleaner does (state.cleanup.delay.ms). A task that moved
// to another instance leaves its directory behind; without the cleaner
// every rebalance would leave its stores on disk for good.
//
// Opening an engine and removing a directory both take mu, so a directory
// is never removed while a thread of this instance opens it. A directory
// whose Pebble LOCK another holder has (another process, or another App
// in this process misconfigured to share the state directory) is left
// alone.
type stateDirs struct {
	root  string
	delay time.Duration
	log   *slog.Logger

	mu   sync.Mutex
	open map[string]int // directory -> open engines
}

// taskDirName matches the directory names of tasks ("<sub-topology>_<partition>").
var taskDirName = regexp.MustCompile(`^[0-9]+_[0-9]+$`)

func newStateDirs(root string, delay time.Duration, log *slog.Logger) *stateDirs {
	return &stateDirs{root: root, delay: delay, log: log, open: map[string]int{}}
}

// openEngine opens the engine in dir with open and keeps dir from being
// cleaned until the engine is closed.
func (d *stateDirs) openEngine(dir string, open func(string) (state.Engine, error)) (state.Engine, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := open(dir)
	if err != nil {
		return nil, err
	}
	d.open[dir]++
	return &ownedEngine{Engine: e, release: func() { d.release(dir) }}, nil
}

func (d *stateDirs) release(dir string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.open[dir]--; d.open[dir] <= 0 {
		delete(d.open, dir)
	}
}

// clean removes the task directories nobody uses that were last modified
// before now minus the delay, and returns their names.
func (d *stateDirs) clean(now time.Time) []string {
	entries, err := os.ReadDir(d.root)
	if err != nil {
		if !os.IsNotExist(err) {
			d.log.Warn("sluice: state directory cleaner: list", "dir", d.root, "err", err)
		}
		return nil
	}
	var removed []string
	for _, en := range entries {
		if !en.IsDir() || !taskDirName.MatchString(en.Name()) {
			continue
		}
		dir := filepath.Join(d.root, en.Name())
		if d.removeIfIdle(dir, now) {
			removed = append(removed, en.Name())
		}
	}
	return removed
}

func (d *stateDirs) removeIfIdle(dir string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.open[dir] > 0 {
		return false
	}
	info, err := os.Stat(dir)
	if err != nil || now.Sub(info.ModTime()) < d.delay {
		return false
	}
	lock, err := vfs.Default.Lock(filepath.Join(dir, "LOCK"))
	if err != nil {
		return false // a Pebble DB is open in it, somewhere else
	}
	err = os.RemoveAll(dir)
	_ = lock.Close()
	if err != nil {
		d.log.Warn("sluice: state directory cleaner: remove", "dir", dir, "err", err)
		return false
	}
	d.log.Info("sluice: removed the state directory of a task this instance no longer runs", "dir", dir, "idle", now.Sub(info.ModTime()).Round(time.Second))
	return true
}

// run cleans every delay until stop is closed.
func (d *stateDirs) run(stop <-chan struct{}) {
	tick := time.NewTicker(d.delay)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			d.clean(now)
		}
	}
}

// ownedEngine releases its directory when closed.
type ownedEngine struct {
	state.Engine
	once    sync.Once
	release func()
}

func (e *ownedEngine) Close() error {
	err := e.Engine.Close()
	e.once.Do(e.release)
	return err
}
