package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
)

// kfake writes its topic list (topics.json) only when topics are created,
// deleted or re-configured through the admin API and on a clean shutdown,
// but writes record batches to partitions/<topic>-<n>/ as they arrive. A
// topic auto-created by a produce or metadata request and followed by a
// kill -9 thus leaves partition files that kfake does not load. Worse, if
// the topic is auto-created again, kfake appends to those files while
// numbering from offset 0, so reads return the old records and the next
// load finds two batches per offset.
//
// recoverOrphanedTopics closes that gap before the real start: it finds
// partition directories of topics missing from topics.json and registers
// those topics by starting kfake once on a private loopback port, creating
// them explicitly (which persists topics.json) and closing it. The real
// start then replays their files like any other topic's.
//
// It reads two kfake persistence details, the topics.json shape and the
// partition directory naming, both covered by TestRecoverAutoCreatedTopicAfterKill.
func recoverOrphanedTopics(cfg Config) error {
	known, ok, err := persistedTopics(cfg.DataDir)
	if err != nil || !ok {
		return err
	}
	orphans, err := orphanedTopics(cfg.DataDir, known)
	if err != nil || len(orphans) == 0 {
		return err
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DataDir(cfg.DataDir)}
	if cfg.Logger != nil {
		opts = append(opts, kfake.WithLogger(slogAdapter{cfg.Logger}))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("broker: load data dir %q to recover topics: %w", cfg.DataDir, err)
	}
	defer c.Close()
	names := make([]string, 0, len(orphans))
	for topic := range orphans {
		names = append(names, topic)
	}
	sort.Strings(names)
	for _, topic := range names {
		partitions := max(orphans[topic], cfg.Partitions)
		if err := c.CreateTopic(topic, partitions, nil); err != nil {
			return fmt.Errorf("broker: recover topic %q in data dir %q: %w", topic, cfg.DataDir, err)
		}
		if cfg.Logger != nil {
			cfg.Logger.Warn("broker: recovered auto-created topic left unregistered by an unclean shutdown; create topics explicitly to avoid this",
				"topic", topic, "partitions", partitions, "data_dir", cfg.DataDir)
		}
	}
	return nil
}

// persistedTopics returns the topic names in dataDir/topics.json; ok is
// false when there is no such file or it has a format we do not know, in
// which case nothing is recovered.
func persistedTopics(dataDir string) (known map[string]bool, ok bool, err error) {
	raw, err := os.ReadFile(filepath.Join(dataDir, "topics.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("broker: read topic list: %w", err)
	}
	var file struct {
		Version int `json:"version"`
		Topics  []struct {
			Name string `json:"name"`
		} `json:"topics"`
	}
	if err := json.Unmarshal(raw, &file); err != nil || file.Version != 1 {
		return nil, false, nil // kfake reports a corrupt file itself
	}
	known = make(map[string]bool, len(file.Topics))
	for _, t := range file.Topics {
		known[t.Name] = true
	}
	return known, true, nil
}

// orphanedTopics returns, for each topic with partition directories under
// dataDir/partitions but not in known, its highest partition number + 1.
func orphanedTopics(dataDir string, known map[string]bool) (map[string]int32, error) {
	entries, err := os.ReadDir(filepath.Join(dataDir, "partitions"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("broker: list partition directories: %w", err)
	}
	orphans := map[string]int32{}
	for _, e := range entries {
		dash := strings.LastIndexByte(e.Name(), '-')
		if !e.IsDir() || dash <= 0 {
			continue
		}
		partition, err := strconv.ParseInt(e.Name()[dash+1:], 10, 32)
		if err != nil || partition < 0 {
			continue
		}
		topic, err := url.PathUnescape(e.Name()[:dash])
		if err != nil || known[topic] {
			continue
		}
		orphans[topic] = max(orphans[topic], int32(partition)+1)
	}
	return orphans, nil
}
