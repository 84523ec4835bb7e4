package meter

import (
	"context"
	"time"

	"github.com/stowken/stowken/cost"
	"github.com/stowken/stowken/internal/ddbitem"
	"github.com/stowken/stowken/refcount"
)

// Refs wraps r so that its requests are recorded in m and in the meters of their context, as
// cost.References: what r reports if it is a Reporter, the model otherwise (see the package
// documentation).
func Refs(r refcount.Backend, m *cost.Meter) refcount.Backend {
	return &refs{r, newMetered(r, m, cost.References)}
}

type refs struct {
	refcount.Backend
	metered
}

// refsBilled is when a modelled call of the reference store is billed.
var refsBilled = billedIf(refcount.ErrConflict, refcount.ErrExists, refcount.ErrNotFound)

// write runs a call and records its usage (metered.call).
func (r *refs) write(ctx context.Context, fn func(ctx context.Context) error, model func() cost.Usage) error {
	return r.call(ctx, fn, refsBilled, model)
}

// list runs a listing and records its usage, whatever ended it.
func (r *refs) list(ctx context.Context, fn func(ctx context.Context) error, model func() cost.Usage) error {
	return r.call(ctx, fn, always, model)
}

// writes is the write units of the items of each distinct segment.
func writes(segments []string, item func(segment string) ddbitem.Item) cost.Usage {
	var u cost.Usage
	seen := make(map[string]bool, len(segments))
	for _, s := range segments {
		if !seen[s] {
			seen[s] = true
			u.DDBWRU += ddbitem.WriteUnits(item(s))
		}
	}
	return u
}

// claimed is the write units of a head with a claim.
func claimed(segment, claimID string, expires time.Time) cost.Usage {
	return cost.Usage{DDBWRU: ddbitem.WriteUnits(ddbitem.Head("", segment, string(refcount.Deleting), 0, expires.UnixMilli(), claimID, expires.UnixMilli()))}
}

func (r *refs) AddRefs(ctx context.Context, owner string, segments []string, now time.Time) error {
	return r.write(ctx, func(ctx context.Context) error { return r.Backend.AddRefs(ctx, owner, segments, now) },
		func() cost.Usage {
			return writes(segments, func(s string) ddbitem.Item { return ddbitem.Ref("", s, owner, now.UnixMilli()) })
		})
}

func (r *refs) RemoveRefs(ctx context.Context, owner string, segments []string) error {
	return r.write(ctx, func(ctx context.Context) error { return r.Backend.RemoveRefs(ctx, owner, segments) },
		func() cost.Usage {
			return writes(segments, func(s string) ddbitem.Item { return ddbitem.Ref("", s, owner, time.Now().UnixMilli()) })
		})
}

func (r *refs) HasRefs(ctx context.Context, segment string) (bool, error) {
	var found bool
	err := r.write(ctx, func(ctx context.Context) (err error) {
		found, err = r.Backend.HasRefs(ctx, segment)
		return err
	}, func() cost.Usage {
		if found {
			return cost.Usage{DDBRRU: ddbitem.HasRefsFanout}
		}
		return cost.Usage{DDBRRU: ddbitem.RefShards}
	})
	return found, err
}

func (r *refs) ListRefs(ctx context.Context, fn func(refcount.Ref) error) error {
	var sizes []int
	return r.list(ctx, func(ctx context.Context) error {
		return r.Backend.ListRefs(ctx, func(ref refcount.Ref) error {
			sizes = append(sizes, ddbitem.Size(ddbitem.Ref("", ref.Segment, ref.Owner, ref.Created.UnixMilli())))
			return fn(ref)
		})
	}, func() cost.Usage { return cost.Usage{DDBRRU: scanReads(sizes)} })
}

func (r *refs) GetHead(ctx context.Context, segment string) (refcount.Head, error) {
	var h refcount.Head
	err := r.write(ctx, func(ctx context.Context) (err error) {
		h, err = r.Backend.GetHead(ctx, segment)
		return err
	}, func() cost.Usage {
		if h.Segment == "" {
			return cost.Usage{DDBRRU: cost.ReadUnits(0, true)}
		}
		return cost.Usage{DDBRRU: cost.ReadUnits(ddbitem.Size(ddbitem.HeadOf("", h)), true)}
	})
	return h, err
}

func (r *refs) CreateHead(ctx context.Context, segment string, size int64, now time.Time) error {
	return r.write(ctx, func(ctx context.Context) error { return r.Backend.CreateHead(ctx, segment, size, now) },
		func() cost.Usage {
			return cost.Usage{DDBWRU: ddbitem.WriteUnits(ddbitem.Head("", segment, string(refcount.Live), size, now.UnixMilli(), "", 0))}
		})
}

func (r *refs) Claim(ctx context.Context, segment, claimID string, expires, now time.Time) error {
	return r.write(ctx, func(ctx context.Context) error { return r.Backend.Claim(ctx, segment, claimID, expires, now) },
		func() cost.Usage { return claimed(segment, claimID, expires) })
}

func (r *refs) Release(ctx context.Context, segment, claimID string) error {
	return r.write(ctx, func(ctx context.Context) error { return r.Backend.Release(ctx, segment, claimID) },
		func() cost.Usage { return claimed(segment, claimID, time.Now()) })
}

func (r *refs) Revive(ctx context.Context, segment, claimID string, now time.Time) error {
	return r.write(ctx, func(ctx context.Context) error { return r.Backend.Revive(ctx, segment, claimID, now) },
		func() cost.Usage { return claimed(segment, claimID, now) })
}

func (r *refs) DeleteHead(ctx context.Context, segment, claimID string) error {
	return r.write(ctx, func(ctx context.Context) error { return r.Backend.DeleteHead(ctx, segment, claimID) },
		func() cost.Usage { return claimed(segment, claimID, time.Now()) })
}

func (r *refs) ListHeads(ctx context.Context, fn func(refcount.Head) error) error {
	var sizes []int
	return r.list(ctx, func(ctx context.Context) error {
		return r.Backend.ListHeads(ctx, func(h refcount.Head) error {
			sizes = append(sizes, ddbitem.Size(ddbitem.HeadOf("", h)))
			return fn(h)
		})
	}, func() cost.Usage { return cost.Usage{DDBRRU: scanReads(sizes)} })
}

func (r *refs) MarkCandidates(ctx context.Context, segments []string, now time.Time) error {
	return r.write(ctx, func(ctx context.Context) error { return r.Backend.MarkCandidates(ctx, segments, now) },
		func() cost.Usage {
			return writes(segments, func(s string) ddbitem.Item { return ddbitem.Candidate("", s, now.UnixMilli()) })
		})
}

func (r *refs) ListCandidates(ctx context.Context, fn func(refcount.Candidate) error) error {
	sizes := make([][]int, ddbitem.RefShards)
	return r.list(ctx, func(ctx context.Context) error {
		return r.Backend.ListCandidates(ctx, func(c refcount.Candidate) error {
			sh := ddbitem.RefShard(c.Segment)
			sizes[sh] = append(sizes[sh], ddbitem.Size(ddbitem.Candidate("", c.Segment, c.Since.UnixMilli())))
			return fn(c)
		})
	}, func() cost.Usage {
		var u cost.Usage
		for _, s := range sizes {
			u.DDBRRU += scanReads(s)
		}
		return u
	})
}

func (r *refs) RemoveCandidate(ctx context.Context, segment string, since time.Time) error {
	return r.write(ctx, func(ctx context.Context) error { return r.Backend.RemoveCandidate(ctx, segment, since) },
		func() cost.Usage {
			return cost.Usage{DDBWRU: ddbitem.WriteUnits(ddbitem.Candidate("", segment, since.UnixMilli()))}
		})
}

func (r *refs) CreatePointer(ctx context.Context, id string, p refcount.Pointer) error {
	return r.write(ctx, func(ctx context.Context) error { return r.Backend.CreatePointer(ctx, id, p) },
		func() cost.Usage {
			return cost.Usage{DDBWRU: ddbitem.WriteUnits(ddbitem.Pointer("", id, p.Batch, p.Nonce))}
		})
}

func (r *refs) GetPointer(ctx context.Context, id string) (refcount.Pointer, error) {
	var (
		p     refcount.Pointer
		found bool
	)
	err := r.write(ctx, func(ctx context.Context) (err error) {
		p, err = r.Backend.GetPointer(ctx, id)
		found = err == nil
		return err
	}, func() cost.Usage {
		if !found {
			return cost.Usage{DDBRRU: cost.ReadUnits(0, true)}
		}
		return cost.Usage{DDBRRU: cost.ReadUnits(ddbitem.Size(ddbitem.Pointer("", id, p.Batch, p.Nonce)), true)}
	})
	return p, err
}

func (r *refs) MovePointer(ctx context.Context, id string, from, to refcount.Pointer) error {
	return r.write(ctx, func(ctx context.Context) error { return r.Backend.MovePointer(ctx, id, from, to) },
		func() cost.Usage {
			return cost.Usage{DDBWRU: ddbitem.WriteUnits(ddbitem.Pointer("", id, to.Batch, to.Nonce))}
		})
}

func (r *refs) DeletePointer(ctx context.Context, id string, p refcount.Pointer) error {
	return r.write(ctx, func(ctx context.Context) error { return r.Backend.DeletePointer(ctx, id, p) },
		func() cost.Usage {
			return cost.Usage{DDBWRU: ddbitem.WriteUnits(ddbitem.Pointer("", id, p.Batch, p.Nonce))}
		})
}

func (r *refs) ListPointers(ctx context.Context, fn func(id string, p refcount.Pointer) error) error {
	var sizes []int
	return r.list(ctx, func(ctx context.Context) error {
		return r.Backend.ListPointers(ctx, func(id string, p refcount.Pointer) error {
			sizes = append(sizes, ddbitem.Size(ddbitem.Pointer("", id, p.Batch, p.Nonce)))
			return fn(id, p)
		})
	}, func() cost.Usage { return cost.Usage{DDBRRU: scanReads(sizes)} })
}
