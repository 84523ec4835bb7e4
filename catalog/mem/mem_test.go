package mem_test

import (
	"testing"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/catalog/catalogtest"
	"github.com/stowken/stowken/catalog/mem"
)

func TestConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Backend { return mem.New() })
}
