package mem_test

import (
	"testing"

	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/refcount/mem"
	"github.com/stowken/stowken/refcount/refcounttest"
)

func TestConformance(t *testing.T) {
	refcounttest.Run(t, func(t *testing.T) refcount.Backend { return mem.New() })
}
