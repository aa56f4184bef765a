package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/internal/properties"
	"github.com/sluicehq/sluice/internal/registryconf"
	"github.com/sluicehq/sluice/internal/schematool"
	"github.com/sluicehq/sluice/serde/schemaregistry"
)

// registryFlags are the flags every registry-using command shares.
type registryFlags struct {
	url        string
	basicAuth  string
	configFile string
	flags      *pflag.FlagSet
}

const defaultRegistryURL = "http://127.0.0.1:8081"

func (f *registryFlags) add(cmd *cobra.Command, persistent bool) {
	flags := cmd.Flags()
	if persistent {
		flags = cmd.PersistentFlags()
	}
	f.flags = flags
	flags.StringVar(&f.url, "registry", defaultRegistryURL, "schema registry URL; overrides schema.registry.url of --registry-config")
	flags.StringVar(&f.basicAuth, "basic-auth", "", "registry HTTP basic auth as user:password; overrides the credentials of --registry-config")
	flags.StringVar(&f.configFile, "registry-config", "", "registry client properties file with Confluent's names: schema.registry.url, basic.auth.user.info, bearer.auth.token, schema.registry.ssl.ca.location, ... (see docs/kafka.md)")
}

// config is the registry client's settings: --registry-config, then the
// flags given explicitly.
func (f *registryFlags) config() (registryconf.Config, error) {
	var cfg registryconf.Config
	if f.configFile != "" {
		data, err := os.ReadFile(f.configFile)
		if err != nil {
			return cfg, fmt.Errorf("--registry-config: %w", err)
		}
		props, err := properties.Parse(data)
		if err != nil {
			return cfg, fmt.Errorf("--registry-config %s: %w", f.configFile, err)
		}
		if cfg, err = registryconf.Parse(props); err != nil {
			return cfg, fmt.Errorf("--registry-config %s: %w", f.configFile, err)
		}
	}
	if cfg.URL == "" || f.flags.Changed("registry") {
		cfg.URL = f.url
	}
	if f.basicAuth != "" {
		// The flag replaces the file's credentials, bearer token included.
		user, pass, err := schematool.ParseBasicAuth(f.basicAuth)
		if err != nil {
			return cfg, err
		}
		cfg.BasicAuthCredentialsSource = registryconf.SourceUserInfo
		cfg.BasicAuthUserInfo = user + ":" + pass
		cfg.BearerAuthCredentialsSource, cfg.BearerAuthToken = "", ""
	}
	if f.configFile != "" {
		if err := cfg.Validate(); err != nil {
			return cfg, fmt.Errorf("--registry-config %s: %w", f.configFile, err)
		}
	}
	return cfg, nil
}

// client is the registry client of the settings. A person waits for the
// answer: 30 s per request, not the serdes' 5 s.
func (f *registryFlags) client() (*schemaregistry.Client, error) {
	cfg, err := f.config()
	if err != nil {
		return nil, err
	}
	return cfg.NewClient(schemaregistry.WithTimeout(30 * time.Second))
}

var errIncompatible = errors.New("schema is not compatible (see the problems above)")

func newSchemasCmd() *cobra.Command {
	var reg registryFlags
	cmd := &cobra.Command{
		Use:   "schemas",
		Short: "Register, check, get and list Avro schemas in a Confluent-compatible schema registry",
	}
	reg.add(cmd, true)

	var subject string
	register := &cobra.Command{
		Use:   "register FILE.avsc --subject SUBJECT",
		Short: "Register an Avro schema file under a subject",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := reg.client()
			if err != nil {
				return err
			}
			schema, err := schematool.ReadSchemaFile(args[0])
			if err != nil {
				return err
			}
			r, err := schematool.Register(cmd.Context(), c, subject, schema)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "registered %s under subject %q: id %d, version %d\n", args[0], r.Subject, r.ID, r.Version)
			return nil
		},
	}
	register.Flags().StringVar(&subject, "subject", "", "subject to register under (e.g. orders-value)")
	_ = register.MarkFlagRequired("subject")

	var checkSubject, level string
	check := &cobra.Command{
		Use:   "check FILE.avsc --subject SUBJECT [--level LEVEL]",
		Short: "Check a schema file against a subject's versions; exit 1 listing the problems if incompatible",
		Long: "Asks the registry whether FILE.avsc may be registered under SUBJECT at the subject's compatibility " +
			"level (its latest version, or all versions for *_TRANSITIVE levels) and prints one line per problem. " +
			"With --level the subject's versions are checked locally at that level instead. Exits non-zero when " +
			"the schema is incompatible, so CI can gate schema changes.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := reg.client()
			if err != nil {
				return err
			}
			schema, err := schematool.ReadSchemaFile(args[0])
			if err != nil {
				return err
			}
			res, err := schematool.Check(cmd.Context(), c, schematool.CheckRequest{Subject: checkSubject, Schema: schema, Level: level})
			if err != nil {
				return err
			}
			schematool.WriteCheck(cmd.OutOrStdout(), args[0], res)
			if !res.Compatible {
				return errIncompatible
			}
			return nil
		},
	}
	check.Flags().StringVar(&checkSubject, "subject", "", "subject whose versions to check against")
	check.Flags().StringVar(&level, "level", "", "compatibility level to check at (default: the subject's)")
	_ = check.MarkFlagRequired("subject")

	var getSubject, version string
	var id int
	get := &cobra.Command{
		Use:   "get (--subject SUBJECT [--version N|latest] | --id ID)",
		Short: "Print a registered schema",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := reg.client()
			if err != nil {
				return err
			}
			if (getSubject == "") == (id < 0) {
				return errors.New("schemas get: give --subject (with --version) or --id")
			}
			s, err := schematool.Get(cmd.Context(), c, getSubject, version, id)
			if err != nil {
				return err
			}
			return schematool.WriteSchema(cmd.OutOrStdout(), s)
		},
	}
	get.Flags().StringVar(&getSubject, "subject", "", "subject")
	get.Flags().StringVar(&version, "version", "latest", "version number or latest")
	get.Flags().IntVar(&id, "id", -1, "global schema id (instead of --subject)")

	var versions bool
	list := &cobra.Command{
		Use:   "list [--versions]",
		Short: "List subjects (and their versions)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := reg.client()
			if err != nil {
				return err
			}
			return schematool.List(cmd.Context(), c, cmd.OutOrStdout(), versions)
		},
	}
	list.Flags().BoolVar(&versions, "versions", false, "print each subject's versions after a tab")

	cmd.AddCommand(register, check, get, list)
	return cmd
}
