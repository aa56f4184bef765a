package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/kafka"
)

// kafkaFlags are the connection flags of every subcommand that talks to an
// external Kafka cluster: --brokers and --kafka-config (a client
// properties file, as kcat -F and Kafka's --command-config take), with
// SLUICE_KAFKA_* environment variables in between. An explicit --brokers
// wins over the file and the environment.
type kafkaFlags struct {
	brokers    []string
	configFile string
	// embedded: no brokers anywhere means the caller's embedded broker,
	// not 127.0.0.1:9092.
	embedded bool
}

const defaultBrokers = "127.0.0.1:9092"

// addKafkaFlags registers the flags on f. With embedded, an absent
// bootstrap.servers means an embedded in-process broker.
func addKafkaFlags(f *pflag.FlagSet, embedded bool) *kafkaFlags {
	k := &kafkaFlags{embedded: embedded}
	def := "Kafka seed brokers, host:port comma-separated (default " + defaultBrokers + ")"
	if embedded {
		def = "Kafka seed brokers, host:port comma-separated (default: an embedded in-process broker)"
	}
	f.StringSliceVar(&k.brokers, "brokers", nil, def+"; overrides bootstrap.servers of --kafka-config")
	f.StringVar(&k.configFile, "kafka-config", "", "Kafka client properties file: bootstrap.servers, security.protocol, sasl.*, ssl.* (see docs/kafka.md); SLUICE_KAFKA_* variables override it")
	return k
}

// config loads the configuration. With embedded and no brokers given
// anywhere, BootstrapServers is empty.
func (k *kafkaFlags) config() (kafka.Config, error) {
	overrides := map[string]string{}
	if len(k.brokers) > 0 {
		overrides[kafka.BootstrapServers] = strings.Join(k.brokers, ",")
	}
	cfg, err := kafka.Load(k.configFile, os.Environ(), overrides)
	if err != nil {
		return kafka.Config{}, err
	}
	if len(cfg.BootstrapServers) == 0 && !k.embedded {
		cfg.BootstrapServers = []string{defaultBrokers}
	}
	return cfg, nil
}

// options loads the configuration and returns the seed brokers, the
// client options and the connection check, without connecting yet.
func (k *kafkaFlags) options() ([]string, []kgo.Opt, func(context.Context) error, error) {
	cfg, err := k.config()
	if err != nil {
		return nil, nil, nil, err
	}
	opts, err := cfg.Options()
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg.BootstrapServers, opts, cfg.Check, nil
}

// connect loads the configuration, checks that the cluster accepts it (so
// a wrong password or certificate fails now, naming the cause), and
// returns the seed brokers and the client options.
func (k *kafkaFlags) connect(ctx context.Context) ([]string, []kgo.Opt, error) {
	brokers, opts, check, err := k.options()
	if err != nil {
		return nil, nil, err
	}
	if err := check(ctx); err != nil {
		return nil, nil, err
	}
	return brokers, opts, nil
}

// external returns the seed brokers and client options of the cluster the
// flags, file and environment name, checked (a wrong password fails now),
// or none when no bootstrap.servers is given anywhere: the caller then
// starts its embedded broker. That broker is PLAINTEXT, so a security
// protocol without brokers is an error rather than silently ignored.
func (k *kafkaFlags) external(ctx context.Context) ([]string, []kgo.Opt, error) {
	cfg, err := k.config()
	if err != nil {
		return nil, nil, err
	}
	if len(cfg.BootstrapServers) == 0 {
		if p := cfg.SecurityProtocol; p != "" && p != kafka.Plaintext {
			return nil, nil, fmt.Errorf("security.protocol=%s but no bootstrap.servers (--brokers or --kafka-config): the embedded broker is PLAINTEXT", p)
		}
		return nil, nil, nil
	}
	return k.connect(ctx)
}
