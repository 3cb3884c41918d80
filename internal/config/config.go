// Package config resolves a command's settings once, at start, in the order
// flags > environment (VIDUP_*) > config file (YAML) > defaults.
//
// Commands bind their options structs to cobra flags as usual. Resolve then
// writes the environment's and the file's values into the flags that were not
// set on the command line, so that after it returns the options structs hold
// the effective values and no command ever reads viper or the environment.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Source tells where an effective value came from.
type Source string

// The sources of a value, strongest first.
const (
	SourceFlag    Source = "flag"
	SourceEnv     Source = "env"
	SourceFile    Source = "file"
	SourceDefault Source = "default"
)

// Value is one effective setting, for `vidup config show`.
type Value struct {
	Key    string // the config file key, e.g. "concurrency" or "serve.listen"
	Flag   string
	Env    string
	Value  string
	Source Source
	Secret bool
}

// Spec says how one command's flags map to the environment and the file.
type Spec struct {
	// Section nests the command's keys in the file ("serve" → serve.listen)
	// and in the environment (VIDUP_SERVE_LISTEN). Empty for the top level.
	Section string
	// Skip lists flags that are not settings (--config, --help, ...).
	Skip []string
	// Secret lists flags whose values are masked by config show.
	Secret []string
}

// EnvName is the environment variable of a flag in a section.
func EnvName(section, flag string) string {
	name := "VIDUP_"
	if section != "" {
		name += strings.ToUpper(section) + "_"
	}
	return name + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// DefaultFile is $XDG_CONFIG_HOME/vidup/config.yaml (or ~/.config/...).
func DefaultFile() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "vidup", "config.yaml")
}

// File is a loaded config file (possibly absent).
type File struct {
	Path string // empty when no file was read
	v    *viper.Viper
}

// LoadFile reads the YAML config file at path. A path the user named must
// exist; the default path may be absent.
func LoadFile(path string, explicit bool) (*File, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if path == "" {
		return &File{v: v}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return &File{v: v}, nil
		}
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	defer f.Close()
	if err := v.ReadConfig(f); err != nil {
		return nil, fmt.Errorf("config file %s is not valid YAML: %w", path, err)
	}
	return &File{Path: path, v: v}, nil
}

// Resolve fills every flag of fs that was not given on the command line from
// the environment, then from the file. It returns the effective values in key
// order. lookupEnv is os.LookupEnv outside tests.
func Resolve(flags *pflag.FlagSet, spec Spec, file *File, lookupEnv func(string) (string, bool)) ([]Value, error) {
	skip := map[string]bool{"help": true}
	for _, s := range spec.Skip {
		skip[s] = true
	}
	secret := map[string]bool{}
	for _, s := range spec.Secret {
		secret[s] = true
	}
	var values []Value
	var errs []error
	flags.VisitAll(func(f *pflag.Flag) {
		if skip[f.Name] {
			return
		}
		key := f.Name
		if spec.Section != "" {
			key = spec.Section + "." + f.Name
		}
		val := Value{Key: key, Flag: f.Name, Env: EnvName(spec.Section, f.Name), Secret: secret[f.Name], Source: SourceDefault}
		switch {
		case f.Changed:
			val.Source = SourceFlag
		default:
			if s, ok := lookupEnv(val.Env); ok && s != "" {
				if err := setFlag(f, s); err != nil {
					errs = append(errs, fmt.Errorf("environment variable %s=%q: %w", val.Env, s, err))
					return
				}
				val.Source = SourceEnv
			} else if file != nil && file.v.IsSet(key) {
				if err := setFlag(f, fileString(file.v.Get(key))); err != nil {
					errs = append(errs, fmt.Errorf("config file %s, key %s: %w", file.Path, key, err))
					return
				}
				val.Source = SourceFile
			}
		}
		val.Value = f.Value.String()
		values = append(values, val)
	})
	sort.Slice(values, func(i, j int) bool { return values[i].Key < values[j].Key })
	return values, errors.Join(errs...)
}

func setFlag(f *pflag.Flag, s string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.Replace(splitList(s))
	}
	return f.Value.Set(s)
}

// fileString turns a YAML value into the text a flag parses; lists become
// comma separated.
func fileString(v any) string {
	switch t := v.(type) {
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + fmt.Sprint(t[k])
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(v)
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Mask hides a secret for display.
func Mask(s string) string {
	if s == "" {
		return ""
	}
	return "****"
}

// UnknownKey is a key of the config file that no setting reads, with the
// known key closest to it ("" when none is close).
type UnknownKey struct {
	Key     string
	Closest string
}

// UnknownKeys lists the keys of the file that are not in known (keys as
// Value.Key spells them: "concurrency", "serve.listen"), in order. A key
// below a known one (metadata.camera under metadata, a map) is known.
func (f *File) UnknownKeys(known []string) []UnknownKey {
	if f == nil || f.Path == "" {
		return nil
	}
	set := make(map[string]bool, len(known))
	for _, k := range known {
		set[strings.ToLower(k)] = true
	}
	var out []UnknownKey
	for _, k := range f.v.AllKeys() {
		if set[k] {
			continue
		}
		under := false
		for i := strings.LastIndexByte(k, '.'); i > 0 && !under; i = strings.LastIndexByte(k[:i], '.') {
			under = set[k[:i]]
		}
		if under {
			continue
		}
		out = append(out, UnknownKey{Key: k, Closest: closest(k, known)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// closest is the known key nearest to k by edit distance, when it is near
// enough to be a typo (at most a third of its length, at least 2).
func closest(k string, known []string) string {
	best, bestD := "", -1
	for _, c := range known {
		if d := editDistance(k, strings.ToLower(c)); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > max(2, len(k)/3) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
