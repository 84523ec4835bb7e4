package testenv

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// SkipOrFatal skips the test or, under CI=true (where everything the tests need must be
// there), fails it.
func SkipOrFatal(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format+" (CI=true: required)", args...)
	}
	t.Skipf(format, args...)
}

// RepoRoot returns the directory of the go.mod above the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// NodeScript runs one of the repository's Node.js scripts (scripts/*.mjs) with an npm package
// that scripts/tools.sh installs: the independent references the tests check against.
type NodeScript struct {
	Node, Script, NodePath string
}

// Command returns the command that runs the script with args, NODE_PATH set.
func (s NodeScript) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.Node, append([]string{s.Script}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+s.NodePath)
	return cmd
}

// FindNodeScript returns how to run scripts/script with the npm package pkg at version, which
// scripts/tools.sh installs under the name tool (npm/TOOL-VERSION in the tools cache,
// $STOWKEN_TOOLS or ~/.cache/stowken/tools); the environment variable envVar, when set, names
// the node_modules directory instead. It skips the test (fails it under CI=true) when node or
// the package at that version is missing.
func FindNodeScript(t testing.TB, script, tool, pkg, version, envVar string) NodeScript {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		SkipOrFatal(t, "%s unavailable: node not found on PATH (%v)", pkg, err)
	}
	nodePath := os.Getenv(envVar)
	if nodePath == "" {
		tools := os.Getenv("STOWKEN_TOOLS")
		if tools == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				SkipOrFatal(t, "%s unavailable: no home directory to find the tools cache: %v", pkg, err)
			}
			tools = filepath.Join(home, ".cache", "stowken", "tools")
		}
		nodePath = filepath.Join(tools, "npm", tool+"-"+version, "node_modules")
	}
	raw, err := os.ReadFile(filepath.Join(nodePath, filepath.FromSlash(pkg), "package.json"))
	if err != nil {
		SkipOrFatal(t, "%s unavailable: not in %s (run scripts/tools.sh %s): %v", pkg, nodePath, tool, err)
	}
	var p struct{ Version string }
	if err := json.Unmarshal(raw, &p); err != nil || p.Version != version {
		SkipOrFatal(t, "%s unavailable: %s holds version %q, want %s (err %v)", pkg, nodePath, p.Version, version, err)
	}
	path := filepath.Join(RepoRoot(t), "scripts", script)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	return NodeScript{Node: node, Script: path, NodePath: nodePath}
}
