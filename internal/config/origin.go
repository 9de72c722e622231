package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wabridge/wabridge/internal/problem"
	"github.com/wabridge/wabridge/internal/secret"
)

// origins says where each value came from, so a problem can name the
// file and line, or the environment variable, that set it.
type origins struct {
	file  string
	lines map[string]int    // key path ("server.listen", "sources[0].name") → line in the file
	env   map[string]string // key path → the environment variable that set it
}

// keyLines maps every key path of a YAML document to its line.
func keyLines(raw []byte) map[string]int {
	out := map[string]int{}
	var doc yaml.Node
	if yaml.Unmarshal(raw, &doc) != nil || len(doc.Content) == 0 {
		return out
	}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if prefix != "" {
					k = prefix + "." + k
				}
				out[k] = n.Content[i].Line
				walk(n.Content[i+1], k)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				k := fmt.Sprintf("%s[%d]", prefix, i)
				out[k] = c.Line
				walk(c, k)
			}
		}
	}
	walk(doc.Content[0], "")
	return out
}

// EnvName is the environment variable that sets a key: WABRIDGE_ and the
// key path in capitals, dots as underscores.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// sourceEnvName is the variable for a source's key, by the source's name:
// WABRIDGE_SOURCES_META_APP_SECRET.
func sourceEnvName(source, key string) string {
	return EnvName("sources." + source + "." + key)
}

// Where says where a key's value came from: "environment WABRIDGE_X",
// "FILE:LINE", or the file when the key is not in it (a default).
func (c *Config) Where(key string) string {
	file, line := c.place(key)
	if line > 0 {
		return fmt.Sprintf("%s:%d", file, line)
	}
	return file
}

// place is Where as a problem's file and line.
func (c *Config) place(key string) (file string, line int) {
	if c.origin == nil {
		return c.File, 0
	}
	if v, ok := c.origin.env[key]; ok {
		return "environment " + v, 0
	}
	if v := EnvName(key); !strings.Contains(key, "[") && os.Getenv(v) != "" {
		return "environment " + v, 0
	}
	for k := key; k != ""; {
		if line, ok := c.origin.lines[k]; ok {
			return c.origin.file, line
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return c.origin.file, 0
}

var leadingKey = regexp.MustCompile(`^'?([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*)'?`)

// Annotate places a problem that starts with a key path where that key was
// set: "config.yaml:12: server.listen: ..." or "environment
// WABRIDGE_SERVER_LISTEN: server.listen: ...". A problem that has a place
// already keeps it.
func (c *Config) Annotate(p problem.Problem) problem.Problem {
	if p.File != "" {
		return p
	}
	m := leadingKey.FindStringSubmatch(p.Message)
	if m == nil {
		p.File = c.File
		return p
	}
	p.File, p.Line = c.place(m[1])
	return p
}

// Problems validates and returns every problem, each placed where its key
// was set.
func (c *Config) Problems() problem.List {
	var out problem.List
	for _, p := range problem.Of(c.Validate()) {
		out = append(out, c.Annotate(p))
	}
	return out
}

// applySourceEnv sets each source's keys from WABRIDGE_SOURCES_<NAME>_<KEY>
// (app_secret, verify_token, auth.secret, auth.password ...): sources are a
// list, which viper cannot override key by key.
func applySourceEnv(c *Config) problem.List {
	var problems problem.List
	for i := range c.Sources {
		name := c.Sources[i].Name
		if name == "" {
			continue
		}
		var walk func(v reflect.Value, prefix string)
		walk = func(v reflect.Value, prefix string) {
			t := v.Type()
			for j := 0; j < t.NumField(); j++ {
				tag := strings.Split(t.Field(j).Tag.Get("mapstructure"), ",")[0]
				if tag == "" || tag == "-" || tag == "name" {
					continue
				}
				key := tag
				if prefix != "" {
					key = prefix + "." + tag
				}
				f := v.Field(j)
				if f.Kind() == reflect.Struct {
					walk(f, key)
					continue
				}
				env := sourceEnvName(name, key)
				val, ok := os.LookupEnv(env)
				if !ok || val == "" {
					continue
				}
				switch {
				case f.Type() == reflect.TypeOf(secret.Secret("")) || f.Kind() == reflect.String:
					f.SetString(val)
				case f.Kind() == reflect.Bool:
					b, err := strconv.ParseBool(val)
					if err != nil {
						problems.Add("environment "+env, 0, "sources[%d].%s: %q is not true or false", i, key, val)
						continue
					}
					f.SetBool(b)
				default:
					continue // lists and maps have no env form
				}
				c.origin.env[fmt.Sprintf("sources[%d].%s", i, key)] = env
			}
		}
		walk(reflect.ValueOf(&c.Sources[i]).Elem(), "")
	}
	return problems
}

var decodeLine = regexp.MustCompile(`^'([^']+)' (.*)$`)

// decodeProblems turns mapstructure's error list into one problem a line,
// each with where its key was set.
func (c *Config) decodeProblems(msg string) problem.List {
	var out problem.List
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "* "))
		if line == "" || strings.HasPrefix(line, "decoding failed") {
			continue
		}
		if m := decodeLine.FindStringSubmatch(line); m != nil {
			file, line := c.place(m[1])
			out.Add(file, line, "%s: %s", m[1], m[2])
			continue
		}
		out.Add(c.File, 0, "%s", line)
	}
	return out
}
