package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/config"
	"github.com/astcompanion/sidecar/companion/migrate"
)

const migrateUsage = `usage: companion migrate --pjsip FILE [--out FILE] [--secrets literal|env] [--name NAME] [--listen URL]

Reads the res_pjsip_publish_asterisk setup of FILE (pjsip.conf, with its
#include files) and writes the equivalent companion TOML to --out, or to
standard output. What cannot be carried over becomes a "# not carried over"
comment in the output.`

// migrateCommand is "companion migrate": exit 0 when written, 1 when the
// pjsip.conf cannot be read or the result does not pass check-config, 2 on
// bad usage.
func migrateCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pjsip := fs.String("pjsip", "", "the pjsip.conf `FILE` to read")
	out := fs.String("out", "", "write the TOML to `FILE` (mode 0600) instead of standard output")
	secrets := fs.String("secrets", string(migrate.SecretsLiteral), "passwords of auth sections: \"literal\" copies them, \"env\" writes password_env names instead")
	name := fs.String("name", "", "[companion] name (default: the user part of the first server_uri)")
	listen := fs.String("listen", "", "sip_listen `URL`, e.g. udp://192.0.2.1:5070 (default: Asterisk's UDP transport address, port 5070)")
	configDir := fs.String("config-dir", "", "`DIR` relative #include paths are read from, as Asterisk's astetcdir (default: the folder of --pjsip)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), migrateUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	mode := migrate.Secrets(*secrets)
	if *pjsip == "" || fs.NArg() > 0 || (mode != migrate.SecretsLiteral && mode != migrate.SecretsEnv) {
		fs.Usage()
		return 2
	}
	conf, err := migrate.Load(*pjsip, migrate.LoadOptions{ConfigDir: *configDir})
	if err != nil {
		fmt.Fprintln(stderr, "companion migrate:", err)
		return 1
	}
	res, err := migrate.Convert(conf, migrate.Options{Name: *name, Listen: *listen, Secrets: mode, Source: *pjsip})
	if err != nil {
		fmt.Fprintln(stderr, "companion migrate:", err)
		return 1
	}
	target := *out
	if target == "" {
		target = "companion.toml"
	}
	// What is written must pass check-config; variables named for
	// --secrets env are not set yet, so only those errors are expected.
	if _, err := config.Parse(target, res.TOML); err != nil {
		var errs companion.ConfigErrors
		if !errors.As(err, &errs) || mode != migrate.SecretsEnv || !onlyUnsetEnv(errs) {
			fmt.Fprintln(stderr, "companion migrate: the result does not pass check-config (a bug in migrate; nothing written):")
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	if *out == "" {
		if _, err := stdout.Write(res.TOML); err != nil {
			fmt.Fprintln(stderr, "companion migrate:", err)
			return 1
		}
	} else if err := companion.WriteFileAtomic(*out, res.TOML); err != nil {
		fmt.Fprintln(stderr, "companion migrate:", err)
		return 1
	}
	report(stderr, res, *out)
	return 0
}

func onlyUnsetEnv(errs companion.ConfigErrors) bool {
	for _, e := range errs {
		if e.Msg != "the environment variable named here is not set" {
			return false
		}
	}
	return true
}

// report tells on stderr what the file needs before it is used.
func report(w io.Writer, res *migrate.Result, out string) {
	where := "standard output"
	if out != "" {
		where = out
	}
	fmt.Fprintf(w, "companion migrate: wrote %s: %d %s", where, len(res.Peers), plural(len(res.Peers), "peer", "peers"))
	if len(res.Peers) > 0 {
		fmt.Fprintf(w, " (%s)", joinQuoted(res.Peers))
	}
	fmt.Fprintf(w, ", %d %s not carried over (see the comments)\n", res.NotCarried, plural(res.NotCarried, "setting", "settings"))
	for _, p := range res.Placeholders {
		fmt.Fprintf(w, "  edit %s: a placeholder\n", p)
	}
	for _, e := range res.EnvVars {
		fmt.Fprintf(w, "  set %s\n", e)
	}
	if res.LiteralSecrets > 0 {
		fmt.Fprintf(w, "  %d %s copied from pjsip.conf into the file: keep it private (or --secrets env)\n",
			res.LiteralSecrets, plural(res.LiteralSecrets, "password", "passwords"))
	}
}

func joinQuoted(xs []string) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%q", x)
	}
	return s
}
