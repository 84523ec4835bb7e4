package parquet

import (
	"testing"

	"github.com/stowken/stowken/catalog"
	"github.com/stowken/stowken/catalog/catalogtest"
	"github.com/stowken/stowken/objstore/mem"
)

func TestConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Backend { return New(mem.New(), Options{}) })
}

func TestConformanceWithoutCache(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Backend { return New(mem.New(), Options{CacheBytes: -1}) })
}
