package sources

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Presets are shipped mappings for BSPs that send their own shape; a source
// names one with `type: mapped, preset: NAME`.
//
//go:embed presets/*.yaml
var presetFiles embed.FS

// Presets lists the preset names, sorted.
func Presets() []string {
	names, _ := fs.Glob(presetFiles, "presets/*.yaml")
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, strings.TrimSuffix(path.Base(n), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// presetMapping reads a shipped preset.
func presetMapping(name string) (Mapping, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	b, err := presetFiles.ReadFile("presets/" + key + ".yaml")
	if err != nil || strings.ContainsAny(key, "/\\.") {
		return Mapping{}, fmt.Errorf("preset: %q is not a preset wabridge ships (%s)", name, strings.Join(Presets(), ", "))
	}
	m, _, err := parseMapping("preset "+key, b)
	return m, err
}

// overlay lays a user's mapping over a preset: items, kind and each field,
// value rename and require the user gives win; the rest is the preset's.
func overlay(preset, user Mapping) Mapping {
	out := Mapping{Items: preset.Items, Kind: preset.Kind, Require: preset.Require,
		Fields: map[string]string{}, Values: map[string]map[string]string{}}
	if user.Items != "" {
		out.Items = user.Items
	}
	if user.Kind != "" {
		out.Kind = user.Kind
	}
	if len(user.Require) > 0 {
		out.Require = user.Require
	}
	for k, v := range preset.Fields {
		out.Fields[strings.ToLower(k)] = v
	}
	for k, v := range user.Fields {
		out.Fields[strings.ToLower(k)] = v
	}
	for _, vals := range []map[string]map[string]string{preset.Values, user.Values} {
		for f, m := range vals {
			f = strings.ToLower(f)
			if out.Values[f] == nil {
				out.Values[f] = map[string]string{}
			}
			for from, to := range m {
				out.Values[f][strings.ToLower(from)] = to
			}
		}
	}
	return out
}
