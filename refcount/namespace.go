package refcount

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Namespace returns a reference store that keeps its segments under prefix in s: segment
// names are prefixed on the way in and stripped on the way out, and listings skip every other
// segment. Owners are not touched (they name stored copies of conversations, which are
// unique). Stores that share one reference table (two S3 prefixes, one DynamoDB table) each
// use their own namespace, so that a head another store left for its own object is never
// taken as "this object exists here".
func Namespace(s Backend, prefix string) Backend {
	return &namespaced{s, prefix}
}

var _ Backend = (*namespaced)(nil)

type namespaced struct {
	s      Backend
	prefix string
}

// errEmptySegment is returned for an empty segment name, which the prefix would otherwise
// turn into a valid one.
var errEmptySegment = errors.New("refcount: empty segment name")

func (n *namespaced) in(seg string) (string, error) {
	if seg == "" {
		return "", errEmptySegment
	}
	return n.prefix + seg, nil
}

func (n *namespaced) ins(segs []string) ([]string, error) {
	out := make([]string, len(segs))
	for i, s := range segs {
		if s == "" {
			return nil, errEmptySegment
		}
		out[i] = n.prefix + s
	}
	return out, nil
}

func (n *namespaced) AddRefs(ctx context.Context, owner string, segments []string, now time.Time) error {
	segs, err := n.ins(segments)
	if err != nil {
		return err
	}
	return n.s.AddRefs(ctx, owner, segs, now)
}

func (n *namespaced) RemoveRefs(ctx context.Context, owner string, segments []string) error {
	segs, err := n.ins(segments)
	if err != nil {
		return err
	}
	return n.s.RemoveRefs(ctx, owner, segs)
}

func (n *namespaced) HasRefs(ctx context.Context, segment string) (bool, error) {
	seg, err := n.in(segment)
	if err != nil {
		return false, err
	}
	return n.s.HasRefs(ctx, seg)
}

func (n *namespaced) ListRefs(ctx context.Context, fn func(Ref) error) error {
	return n.s.ListRefs(ctx, func(r Ref) error {
		seg, ok := strings.CutPrefix(r.Segment, n.prefix)
		if !ok {
			return nil
		}
		r.Segment = seg
		return fn(r)
	})
}

func (n *namespaced) GetHead(ctx context.Context, segment string) (Head, error) {
	seg, err := n.in(segment)
	if err != nil {
		return Head{}, err
	}
	h, err := n.s.GetHead(ctx, seg)
	h.Segment = strings.TrimPrefix(h.Segment, n.prefix)
	return h, err
}

func (n *namespaced) CreateHead(ctx context.Context, segment string, size int64, now time.Time) error {
	seg, err := n.in(segment)
	if err != nil {
		return err
	}
	return n.s.CreateHead(ctx, seg, size, now)
}

func (n *namespaced) Claim(ctx context.Context, segment, claimID string, expires, now time.Time) error {
	seg, err := n.in(segment)
	if err != nil {
		return err
	}
	return n.s.Claim(ctx, seg, claimID, expires, now)
}

func (n *namespaced) Release(ctx context.Context, segment, claimID string) error {
	seg, err := n.in(segment)
	if err != nil {
		return err
	}
	return n.s.Release(ctx, seg, claimID)
}

func (n *namespaced) Revive(ctx context.Context, segment, claimID string, now time.Time) error {
	seg, err := n.in(segment)
	if err != nil {
		return err
	}
	return n.s.Revive(ctx, seg, claimID, now)
}

func (n *namespaced) DeleteHead(ctx context.Context, segment, claimID string) error {
	seg, err := n.in(segment)
	if err != nil {
		return err
	}
	return n.s.DeleteHead(ctx, seg, claimID)
}

func (n *namespaced) ListHeads(ctx context.Context, fn func(Head) error) error {
	return n.s.ListHeads(ctx, func(h Head) error {
		seg, ok := strings.CutPrefix(h.Segment, n.prefix)
		if !ok {
			return nil
		}
		h.Segment = seg
		return fn(h)
	})
}

func (n *namespaced) MarkCandidates(ctx context.Context, segments []string, now time.Time) error {
	segs, err := n.ins(segments)
	if err != nil {
		return err
	}
	return n.s.MarkCandidates(ctx, segs, now)
}

func (n *namespaced) ListCandidates(ctx context.Context, fn func(Candidate) error) error {
	return n.s.ListCandidates(ctx, func(c Candidate) error {
		seg, ok := strings.CutPrefix(c.Segment, n.prefix)
		if !ok {
			return nil
		}
		c.Segment = seg
		return fn(c)
	})
}

func (n *namespaced) RemoveCandidate(ctx context.Context, segment string, since time.Time) error {
	seg, err := n.in(segment)
	if err != nil {
		return err
	}
	return n.s.RemoveCandidate(ctx, seg, since)
}

func (n *namespaced) Close() error { return n.s.Close() }
