package location_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestLinks keeps each program linking only the backends it opens: the core links none (and no
// catalog backend), the GC Lambda links no local store, the local store links no AWS SDK, and
// the registry links no backend at all.
func TestLinks(t *testing.T) {
	const mod = "github.com/stowken/stowken/"
	local := []string{mod + "objstore/fs", mod + "refcount/bolt", "go.etcd.io/bbolt", mod + "location/local"}
	aws := []string{mod + "objstore/s3", mod + "refcount/dynamodb", "github.com/aws/aws-sdk-go-v2/service/", mod + "location/aws"}
	catalogs := []string{mod + "catalog/parquet", "github.com/parquet-go/parquet-go"}
	tests := []struct {
		pkg       string
		forbidden []string
	}{
		{"./vault", append(append(local, aws...), catalogs...)},
		{"./location", append(append(local, aws...), catalogs...)},
		{"./lambda/gc", local},
		{"./location/local", aws},
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, tt := range tests {
		cmd := exec.Command(gobin, "list", "-deps", tt.pkg)
		cmd.Dir = ".."
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", tt.pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range tt.forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f)) {
					t.Errorf("%s links %s", tt.pkg, dep)
				}
			}
		}
	}
}
