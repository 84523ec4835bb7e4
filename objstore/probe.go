package objstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// ErrConditionsIgnored: the server accepted a conditional Put whose condition did not hold, as
// if the condition had not been sent. Some S3-compatible servers accept "If-None-Match: *" and
// "If-Match" and ignore them; on such a server a create-if-absent write silently replaces the
// object. CheckConditionalWrites reports it, and its message names the condition ignored.
var ErrConditionsIgnored = errors.New("objstore: the server ignores conditional writes")

// deleteTimeout bounds the deletion of CheckConditionalWrites' scratch object, which runs even
// when the check's context has ended.
const deleteTimeout = 30 * time.Second

// CheckConditionalWrites checks, with real writes to the scratch object key (which must not
// exist; give it a random element), that b honours both conditions of PutOptions:
//
//  1. Put with IfNoneMatch creates the object;
//  2. Put with IfNoneMatch again must fail with ErrExists ("ignores If-None-Match" otherwise);
//  3. Put with IfMatch of a wrong ETag must fail with ErrPrecondition ("ignores If-Match");
//  4. Put with IfMatch of the object's ETag must succeed.
//
// Every Put is conditional, so a policy that allows only conditional PutObject suffices (the
// deletion needs DeleteObject on the key). The scratch object is deleted afterwards, on every
// path, also when ctx has ended.
//
// A server that ignores a condition yields an error wrapping ErrConditionsIgnored, which is
// definitive. Any other error (a failed request, a refused write) is not: the check did not
// finish and may be run again. A failure to delete the scratch object is such an error too.
func CheckConditionalWrites(ctx context.Context, b Bucket, key string) (err error) {
	put := func(step, content string, opts PutOptions) (Attrs, error) {
		a, err := b.Put(ctx, key, []byte(step+": "+content+"\n"), opts)
		if err != nil {
			return a, fmt.Errorf("%s of %s: %w", step, key, err)
		}
		return a, nil
	}
	first, err := put("create-if-absent put", "first", PutOptions{IfNoneMatch: true})
	if err != nil {
		return fmt.Errorf("objstore: conditional-write check: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
		defer cancel()
		if derr := b.Delete(dctx, key); derr != nil {
			err = errors.Join(err, fmt.Errorf("objstore: conditional-write check: delete scratch object %s: %w", key, derr))
		}
	}()

	_, err = put("second create-if-absent put", "must not land", PutOptions{IfNoneMatch: true})
	switch {
	case err == nil:
		return fmt.Errorf("%w: it ignores If-None-Match: a PUT with \"If-None-Match: *\" over the existing object %s succeeded "+
			"and replaced it, where it must fail with 412 Precondition Failed (storing a different conversation under an existing id "+
			"would replace the first one)", ErrConditionsIgnored, key)
	case !errors.Is(err, ErrExists):
		return fmt.Errorf("objstore: conditional-write check: %w", err)
	}

	wrong := randomETag()
	for wrong == first.ETag {
		wrong = randomETag()
	}
	_, err = put("compare-and-swap put with a wrong ETag", "must not land", PutOptions{IfMatch: wrong})
	switch {
	case err == nil:
		return fmt.Errorf("%w: it ignores If-Match: a PUT with \"If-Match\" of an ETag the object %s does not have succeeded "+
			"and replaced it, where it must fail with 412 Precondition Failed", ErrConditionsIgnored, key)
	case !errors.Is(err, ErrPrecondition):
		return fmt.Errorf("objstore: conditional-write check: %w", err)
	}

	if _, err = put("compare-and-swap put with the current ETag", "second", PutOptions{IfMatch: first.ETag}); err != nil {
		return fmt.Errorf("objstore: conditional-write check: %w", err)
	}
	return nil
}

// randomETag returns an ETag in S3's form (32 hex digits, without quotes) that no object has
// in practice.
func randomETag() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
