package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stowken/stowken/internal/ddbitem"
	"github.com/stowken/stowken/internal/ddbtable"
	"github.com/stowken/stowken/refcount"
	"github.com/stowken/stowken/refcount/internal/rules"
)

// RefShards is the number of partition keys one segment's references (and, by segment, the
// candidate marks) are spread over (ddbitem.RefShards).
const RefShards = ddbitem.RefShards

// hasRefsFanout is how many shard queries HasRefs sends at once.
const hasRefsFanout = ddbitem.HasRefsFanout

// Backoff for UnprocessedItems of BatchWriteItem.
const (
	batchBaseDelay = 50 * time.Millisecond
	batchMaxDelay  = 5 * time.Second
	batchMaxRounds = 15
)

// Options tune Open: the client's settings and the namespace (ddbtable.Options).
type Options = ddbtable.Options

// Store is a refcount.Backend on one DynamoDB table, in the table's namespace. Create it with
// Open or New.
type Store struct {
	t *ddbtable.Table
}

var _ refcount.Backend = (*Store)(nil)

// Open returns a store on the table u names (dynamodb://TABLE[?region=R][&endpoint=URL]) in
// opts.Namespace (see ddbtable.Open). It does not contact the server; the Table's EnsureTable
// creates the table.
func Open(ctx context.Context, u *url.URL, opts Options) (*Store, error) {
	t, err := ddbtable.Open(ctx, u, opts)
	if err != nil {
		return nil, fmt.Errorf("refcount/dynamodb: %w", err)
	}
	return New(t), nil
}

// New returns a store on t, keeping its items under t.Namespace.
func New(t *ddbtable.Table) *Store {
	return &Store{t: t}
}

// Table returns the table the store is on.
func (st *Store) Table() *ddbtable.Table { return st.t }

type item = map[string]types.AttributeValue

// The keys put the namespace in front of the segment's name (ddbitem), wherever the name
// appears.

func (st *Store) headKey(segment string) item {
	return ddbtable.Marshal(ddbitem.HeadKey(st.t.Namespace, segment))
}

func (st *Store) refKey(segment, owner string) item {
	return ddbtable.Marshal(ddbitem.RefKey(st.t.Namespace, segment, owner))
}

func (st *Store) candidateKey(segment string) item {
	return ddbtable.Marshal(ddbitem.CandidateKey(st.t.Namespace, segment))
}

func (st *Store) pointerKey(id string) item {
	return ddbtable.Marshal(ddbitem.PointerKey(st.t.Namespace, id))
}

// str and ms are the SDK's values of a string and a time (Unix milliseconds).
func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func ms(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: string(ddbitem.Num(rules.Millis(t)))}
}

// getS returns a string attribute; required ones must be present.
func getS(it item, name string, required bool) (string, error) {
	switch v := it[name].(type) {
	case *types.AttributeValueMemberS:
		return v.Value, nil
	case nil:
		if !required {
			return "", nil
		}
		return "", fmt.Errorf("refcount/dynamodb: item without attribute %s", name)
	default:
		return "", fmt.Errorf("refcount/dynamodb: attribute %s is %T, want a string", name, v)
	}
}

// getN returns a number attribute; required ones must be present.
func getN(it item, name string, required bool) (int64, error) {
	switch v := it[name].(type) {
	case *types.AttributeValueMemberN:
		x, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("refcount/dynamodb: attribute %s = %q: %w", name, v.Value, err)
		}
		return x, nil
	case nil:
		if !required {
			return 0, nil
		}
		return 0, fmt.Errorf("refcount/dynamodb: item without attribute %s", name)
	default:
		return 0, fmt.Errorf("refcount/dynamodb: attribute %s is %T, want a number", name, v)
	}
}

func decodeHead(segment string, it item) (refcount.Head, error) {
	var r rules.Record
	st, err := getS(it, ddbitem.AttrState, true)
	if err != nil {
		return refcount.Head{}, err
	}
	r.State = refcount.State(st)
	if r.Size, err = getN(it, ddbitem.AttrSize, true); err != nil {
		return refcount.Head{}, err
	}
	if r.Created, err = getN(it, ddbitem.AttrCreated, true); err != nil {
		return refcount.Head{}, err
	}
	if r.ClaimID, err = getS(it, ddbitem.AttrClaimID, false); err != nil {
		return refcount.Head{}, err
	}
	if r.ClaimExpires, err = getN(it, ddbitem.AttrClaimExpires, false); err != nil {
		return refcount.Head{}, err
	}
	return r.Head(segment), nil
}

// translate is the one place SDK errors become this package's errors: a failed condition is
// refcount.ErrConflict, a missing table says so (ddbtable's TableError), and everything else
// (context cancellation included, which stays visible to errors.Is) is wrapped with the
// operation. Operations that give a failed condition a more specific meaning (ErrExists,
// ErrNotFound) map ErrConflict afterwards.
func (st *Store) translate(op, subject string, err error) error {
	if err == nil {
		return nil
	}
	what := "refcount/dynamodb: " + op
	if subject != "" {
		what += " " + strconv.Quote(subject)
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("%s: %w", what, refcount.ErrConflict)
	}
	if terr := st.t.TableError(what, err); terr != nil {
		return terr
	}
	return fmt.Errorf("%s: %w", what, err)
}

// batchWrite sends reqs in BatchWriteItem requests of refcount.BatchSize, retrying unprocessed
// items with exponential backoff and full jitter.
func (st *Store) batchWrite(ctx context.Context, op string, reqs []types.WriteRequest) error {
	for start := 0; start < len(reqs); start += refcount.BatchSize {
		pending := reqs[start:min(start+refcount.BatchSize, len(reqs))]
		for round := 0; len(pending) > 0; round++ {
			if round > 0 {
				if round == batchMaxRounds {
					return fmt.Errorf("refcount/dynamodb: %s: %d items still unprocessed after %d attempts (throttled)", op, len(pending), round)
				}
				if err := sleep(ctx, jitter(round)); err != nil {
					return fmt.Errorf("refcount/dynamodb: %s: %w", op, err)
				}
			}
			out, err := st.t.Client.BatchWriteItem(ctx, &ddb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{st.t.Name: pending},
			})
			if err != nil {
				return st.translate(op, "", err)
			}
			pending = out.UnprocessedItems[st.t.Name]
		}
	}
	return nil
}

// jitter is the full-jitter delay before retry round (1-based) of unprocessed items.
func jitter(round int) time.Duration {
	d := batchMaxDelay
	if round < 16 && batchBaseDelay<<round < batchMaxDelay {
		d = batchBaseDelay << round
	}
	return rand.N(d) + time.Millisecond
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// AddRefs records owner's reference on every segment with batched puts. A reference that
// already exists gets its created time refreshed to now.
func (st *Store) AddRefs(ctx context.Context, owner string, segments []string, now time.Time) error {
	if err := rules.CheckName("owner", owner); err != nil {
		return err
	}
	if err := rules.CheckNames("segment", segments); err != nil {
		return err
	}
	segments = rules.Dedup(segments) // a batch must not name one key twice
	reqs := make([]types.WriteRequest, len(segments))
	for i, seg := range segments {
		it := ddbtable.Marshal(ddbitem.Ref(st.t.Namespace, seg, owner, rules.Millis(now)))
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
	}
	return st.batchWrite(ctx, "add refs", reqs)
}

// RemoveRefs deletes owner's references on the segments with batched deletes.
func (st *Store) RemoveRefs(ctx context.Context, owner string, segments []string) error {
	if err := rules.CheckName("owner", owner); err != nil {
		return err
	}
	if err := rules.CheckNames("segment", segments); err != nil {
		return err
	}
	segments = rules.Dedup(segments)
	reqs := make([]types.WriteRequest, len(segments))
	for i, seg := range segments {
		reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: st.refKey(seg, owner)}}
	}
	return st.batchWrite(ctx, "remove refs", reqs)
}

// HasRefs queries the segment's RefShards reference partitions, each with a strongly
// consistent Query limited to one item, hasRefsFanout at a time, and stops after the first group
// that finds a reference. Queries already sent are never cancelled: they are billed anyway, and
// dynalite crashes when a client abandons a request.
func (st *Store) HasRefs(ctx context.Context, segment string) (bool, error) {
	if err := rules.CheckName("segment", segment); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, st.translate("has refs", segment, err)
	}
	for first := 0; first < RefShards; first += hasRefsFanout {
		var (
			wg       sync.WaitGroup
			found    [hasRefsFanout]bool
			errs     [hasRefsFanout]error
			anyFound bool
		)
		for j := range min(hasRefsFanout, RefShards-first) {
			wg.Go(func() {
				out, err := st.t.Client.Query(ctx, &ddb.QueryInput{
					TableName:                 aws.String(st.t.Name),
					KeyConditionExpression:    aws.String("#pk = :pk"),
					ExpressionAttributeNames:  map[string]string{"#pk": ddbitem.AttrPK},
					ExpressionAttributeValues: item{":pk": str(ddbitem.RefPK(st.t.Namespace, segment, first+j))},
					ProjectionExpression:      aws.String("#pk"),
					ConsistentRead:            aws.Bool(true),
					Limit:                     aws.Int32(1),
				})
				found[j], errs[j] = err == nil && len(out.Items) > 0, err
			})
		}
		wg.Wait()
		for j := range hasRefsFanout {
			anyFound = anyFound || found[j]
		}
		if anyFound {
			return true, nil // a reference is a reference, whatever the other queries said
		}
		for _, err := range errs {
			if err != nil {
				return false, st.translate("has refs", segment, err)
			}
		}
	}
	return false, nil
}

// scan calls fn for every item matching filter, paginating with strongly consistent reads.
func (st *Store) scan(ctx context.Context, op, filter string, names map[string]string, values item, fn func(item) error) error {
	p := ddb.NewScanPaginator(st.t.Client, &ddb.ScanInput{
		TableName:                 aws.String(st.t.Name),
		FilterExpression:          aws.String(filter),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return st.translate(op, "", err)
		}
		for _, it := range out.Items {
			if err := fn(it); err != nil {
				return err
			}
		}
	}
	return nil
}

// ListRefs scans the table for reference items.
func (st *Store) ListRefs(ctx context.Context, fn func(refcount.Ref) error) error {
	return st.scan(ctx, "list refs", "begins_with(#pk, :p)",
		map[string]string{"#pk": ddbitem.AttrPK}, item{":p": str(ddbitem.RefPrefix(st.t.Namespace))},
		func(it item) error {
			pk, err := getS(it, ddbitem.AttrPK, true)
			if err != nil {
				return err
			}
			seg, ok := ddbitem.SegmentOfRefPK(pk)
			if !ok {
				return fmt.Errorf("refcount/dynamodb: malformed reference key %q", pk)
			}
			if seg, ok = st.t.CutNamespace(seg); !ok {
				return nil // another namespace's, which the filter passed
			}
			owner, err := getS(it, ddbitem.AttrSK, true)
			if err != nil {
				return err
			}
			created, err := getN(it, ddbitem.AttrCreated, true)
			if err != nil {
				return err
			}
			return fn(refcount.Ref{Segment: seg, Owner: owner, Created: rules.Time(created)})
		})
}

// GetHead reads the segment's head with a strongly consistent GetItem.
func (st *Store) GetHead(ctx context.Context, segment string) (refcount.Head, error) {
	if err := rules.CheckName("segment", segment); err != nil {
		return refcount.Head{}, err
	}
	out, err := st.t.Client.GetItem(ctx, &ddb.GetItemInput{
		TableName:      aws.String(st.t.Name),
		Key:            st.headKey(segment),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return refcount.Head{}, st.translate("get head", segment, err)
	}
	if out.Item == nil {
		return refcount.Head{}, fmt.Errorf("refcount/dynamodb: head %q: %w", segment, refcount.ErrNotFound)
	}
	return decodeHead(segment, out.Item)
}

// CreateHead puts a live head on the condition that none exists.
func (st *Store) CreateHead(ctx context.Context, segment string, size int64, now time.Time) error {
	if err := rules.CheckName("segment", segment); err != nil {
		return err
	}
	it := ddbitem.Head(st.t.Namespace, segment, string(refcount.Live), size, rules.Millis(now), "", 0)
	_, err := st.t.Client.PutItem(ctx, &ddb.PutItemInput{
		TableName:                aws.String(st.t.Name),
		Item:                     ddbtable.Marshal(it),
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": ddbitem.AttrPK},
	})
	err = st.translate("create head", segment, err)
	if errors.Is(err, refcount.ErrConflict) {
		return fmt.Errorf("refcount/dynamodb: create head %q: %w", segment, refcount.ErrExists)
	}
	return err
}

// headNames are the expression attribute names the head conditions use.
func headNames(names ...string) map[string]string {
	m := make(map[string]string, len(names))
	for _, a := range names {
		m["#"+a] = a
	}
	return m
}

// Claim moves the head to deleting under claimID until expires, on the condition that it is
// live, already held by claimID (a retry), or held under a claim that expired before now.
func (st *Store) Claim(ctx context.Context, segment, claimID string, expires, now time.Time) error {
	if err := checkHeadArgs(segment, claimID); err != nil {
		return err
	}
	_, err := st.t.Client.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:        aws.String(st.t.Name),
		Key:              st.headKey(segment),
		UpdateExpression: aws.String("SET #state = :deleting, #claim_id = :id, #claim_expires = :exp"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND " +
			"(#state = :live OR #claim_id = :id OR #claim_expires < :now)"),
		ExpressionAttributeNames: headNames(ddbitem.AttrPK, ddbitem.AttrState, ddbitem.AttrClaimID, ddbitem.AttrClaimExpires),
		ExpressionAttributeValues: item{
			":deleting": str(string(refcount.Deleting)),
			":live":     str(string(refcount.Live)),
			":id":       str(claimID),
			":exp":      ms(expires),
			":now":      ms(now),
		},
	})
	err = st.translate("claim", segment, err)
	if errors.Is(err, refcount.ErrConflict) {
		// Tell "no head" from "held by someone else" with a strongly consistent read.
		if _, gerr := st.GetHead(ctx, segment); errors.Is(gerr, refcount.ErrNotFound) {
			return gerr
		}
	}
	return err
}

// Release moves a head whose (last) holder is claimID back to live.
func (st *Store) Release(ctx context.Context, segment, claimID string) error {
	return st.toLive(ctx, "release", segment, claimID, "attribute_exists(#pk) AND #claim_id = :id", nil)
}

// Revive moves a head held by claimID under a claim that expired before now back to live (a
// head already live with claimID as its last holder stays live).
func (st *Store) Revive(ctx context.Context, segment, claimID string, now time.Time) error {
	return st.toLive(ctx, "revive", segment, claimID,
		"attribute_exists(#pk) AND #claim_id = :id AND (#state = :live OR #claim_expires < :now)", item{":now": ms(now)})
}

// toLive sets the head live and removes its claim expiry on condition, in which :live and :id
// (claimID) are bound, and the values of extra.
func (st *Store) toLive(ctx context.Context, op, segment, claimID, condition string, extra item) error {
	if err := checkHeadArgs(segment, claimID); err != nil {
		return err
	}
	values := item{":live": str(string(refcount.Live)), ":id": str(claimID)}
	maps.Copy(values, extra)
	_, err := st.t.Client.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:                 aws.String(st.t.Name),
		Key:                       st.headKey(segment),
		UpdateExpression:          aws.String("SET #state = :live REMOVE #claim_expires"),
		ConditionExpression:       aws.String(condition),
		ExpressionAttributeNames:  headNames(ddbitem.AttrPK, ddbitem.AttrState, ddbitem.AttrClaimID, ddbitem.AttrClaimExpires),
		ExpressionAttributeValues: values,
	})
	return st.translate(op, segment, err)
}

// DeleteHead deletes the head on the condition that it is deleting under claimID, or gone.
func (st *Store) DeleteHead(ctx context.Context, segment, claimID string) error {
	if err := checkHeadArgs(segment, claimID); err != nil {
		return err
	}
	_, err := st.t.Client.DeleteItem(ctx, &ddb.DeleteItemInput{
		TableName:                aws.String(st.t.Name),
		Key:                      st.headKey(segment),
		ConditionExpression:      aws.String("attribute_not_exists(#pk) OR (#state = :deleting AND #claim_id = :id)"),
		ExpressionAttributeNames: headNames(ddbitem.AttrPK, ddbitem.AttrState, ddbitem.AttrClaimID),
		ExpressionAttributeValues: item{
			":deleting": str(string(refcount.Deleting)),
			":id":       str(claimID),
		},
	})
	return st.translate("delete head", segment, err)
}

func checkHeadArgs(segment, claimID string) error {
	if err := rules.CheckName("segment", segment); err != nil {
		return err
	}
	return rules.CheckName("claim id", claimID)
}

// ListHeads scans the table for head items.
func (st *Store) ListHeads(ctx context.Context, fn func(refcount.Head) error) error {
	return st.scan(ctx, "list heads", "begins_with(#pk, :p) AND #sk = :head",
		map[string]string{"#pk": ddbitem.AttrPK, "#sk": ddbitem.AttrSK}, item{":p": str(ddbitem.HeadPrefix(st.t.Namespace)), ":head": str(ddbitem.SKHead)},
		func(it item) error {
			pk, err := getS(it, ddbitem.AttrPK, true)
			if err != nil {
				return err
			}
			seg, ok := strings.CutPrefix(pk, ddbitem.HeadPrefix(st.t.Namespace))
			if !ok {
				return nil // not reached: the filter passes only this namespace's heads
			}
			h, err := decodeHead(seg, it)
			if err != nil {
				return err
			}
			return fn(h)
		})
}

// MarkCandidates puts the segments' candidate marks with batched puts (last writer wins).
func (st *Store) MarkCandidates(ctx context.Context, segments []string, now time.Time) error {
	if err := rules.CheckNames("segment", segments); err != nil {
		return err
	}
	segments = rules.Dedup(segments)
	reqs := make([]types.WriteRequest, len(segments))
	for i, seg := range segments {
		it := ddbtable.Marshal(ddbitem.Candidate(st.t.Namespace, seg, rules.Millis(now)))
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
	}
	return st.batchWrite(ctx, "mark candidates", reqs)
}

// ListCandidates queries the RefShards candidate partitions with strongly consistent reads.
func (st *Store) ListCandidates(ctx context.Context, fn func(refcount.Candidate) error) error {
	for i := range RefShards {
		p := ddb.NewQueryPaginator(st.t.Client, &ddb.QueryInput{
			TableName:                 aws.String(st.t.Name),
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": ddbitem.AttrPK},
			ExpressionAttributeValues: item{":pk": str(ddbitem.CandidatePK(i))},
			ConsistentRead:            aws.Bool(true),
		})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return st.translate("list candidates", "", err)
			}
			for _, it := range out.Items {
				seg, err := getS(it, ddbitem.AttrSK, true)
				if err != nil {
					return err
				}
				seg, ok := st.t.CutNamespace(seg)
				if !ok {
					continue // another namespace's mark
				}
				since, err := getN(it, ddbitem.AttrSince, true)
				if err != nil {
					return err
				}
				if err := fn(refcount.Candidate{Segment: seg, Since: rules.Time(since)}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// RemoveCandidate deletes the segment's mark on the condition that it is not after since. A
// newer mark survives and is not an error; neither is a missing mark.
func (st *Store) RemoveCandidate(ctx context.Context, segment string, since time.Time) error {
	if err := rules.CheckName("segment", segment); err != nil {
		return err
	}
	_, err := st.t.Client.DeleteItem(ctx, &ddb.DeleteItemInput{
		TableName:                 aws.String(st.t.Name),
		Key:                       st.candidateKey(segment),
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #since <= :since"),
		ExpressionAttributeNames:  headNames(ddbitem.AttrPK, ddbitem.AttrSince),
		ExpressionAttributeValues: item{":since": ms(since)},
	})
	err = st.translate("remove candidate", segment, err)
	if errors.Is(err, refcount.ErrConflict) {
		return nil // marked again after since: the mark stays
	}
	return err
}

// throttleCodes are the error codes of the throttling errors: DynamoDB refused the request
// without applying it.
var throttleCodes = retry.RetryableErrorCode{Codes: map[string]struct{}{
	"ProvisionedThroughputExceededException": {},
	"ThrottlingException":                    {},
	"RequestLimitExceeded":                   {},
}}

// throttledOnly is the client's retryer (ddbtable's: its attempts, backoff and quota) retrying
// throttling errors alone.
type throttledOnly struct{ aws.RetryerV2 }

// IsErrorRetryable reports whether err is a throttling error.
func (throttledOnly) IsErrorRetryable(err error) bool {
	return throttleCodes.IsErrorRetryable(err).Bool()
}

// onlyThrottled is the option of a request that must not be sent again once the server may
// have applied it: its retryer retries throttling errors alone (a retryer of an unknown kind is
// replaced by none).
func onlyThrottled(o *ddb.Options) {
	if r, ok := o.Retryer.(aws.RetryerV2); ok {
		o.Retryer = throttledOnly{r}
	} else {
		o.Retryer = aws.NopRetryer{}
	}
}

// decodePointer reads a pointer item in either layout (ddbitem.Pointer): b packed, or the
// strings b and n.
func decodePointer(it item) (refcount.Pointer, error) {
	if v, ok := it[ddbitem.AttrBatch].(*types.AttributeValueMemberB); ok {
		batch, nonce, err := ddbitem.UnpackPointer(v.Value)
		if err != nil {
			return refcount.Pointer{}, fmt.Errorf("refcount/dynamodb: %w", err)
		}
		return refcount.Pointer{Batch: batch, Nonce: nonce}, nil
	}
	batch, err := getS(it, ddbitem.AttrBatch, true)
	if err != nil {
		return refcount.Pointer{}, err
	}
	nonce, err := getS(it, ddbitem.AttrNonce, true)
	if err != nil {
		return refcount.Pointer{}, err
	}
	return refcount.Pointer{Batch: batch, Nonce: nonce}, nil
}

// pointerIs is the condition that an item's pointer is p, in the layout ddbitem.Pointer writes
// for p or in that of strings b and n (the items of stores written before), with the names and
// values it uses; names holds extra too.
func pointerIs(p refcount.Pointer, extra ...string) (cond string, names map[string]string, values item) {
	names = headNames(append(extra, ddbitem.AttrBatch, ddbitem.AttrNonce)...)
	values = item{":b": str(p.Batch), ":n": str(p.Nonce)}
	cond = "(#b = :b AND #n = :n)"
	if packed, ok := ddbitem.PackPointer(p.Batch, p.Nonce); ok {
		values[":p"] = &types.AttributeValueMemberB{Value: packed}
		cond = "(#b = :p OR " + cond + ")"
	}
	return cond, names, values
}

// CreatePointer puts id's pointer on the condition that id has none. The request is sent again
// only after a throttling error: after any other failure the server may have applied it, and a
// second request would report the caller's own pointer as refcount.ErrExists.
func (st *Store) CreatePointer(ctx context.Context, id string, p refcount.Pointer) error {
	if err := rules.CheckPointer(id, p); err != nil {
		return err
	}
	_, err := st.t.Client.PutItem(ctx, &ddb.PutItemInput{
		TableName:                aws.String(st.t.Name),
		Item:                     ddbtable.Marshal(ddbitem.Pointer(st.t.Namespace, id, p.Batch, p.Nonce)),
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": ddbitem.AttrPK},
	}, onlyThrottled)
	err = st.translate("create pointer", id, err)
	if errors.Is(err, refcount.ErrConflict) {
		return fmt.Errorf("refcount/dynamodb: create pointer %q: %w", id, refcount.ErrExists)
	}
	return err
}

// GetPointer reads id's pointer with a strongly consistent GetItem.
func (st *Store) GetPointer(ctx context.Context, id string) (refcount.Pointer, error) {
	if err := rules.CheckName("id", id); err != nil {
		return refcount.Pointer{}, err
	}
	out, err := st.t.Client.GetItem(ctx, &ddb.GetItemInput{
		TableName:      aws.String(st.t.Name),
		Key:            st.pointerKey(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return refcount.Pointer{}, st.translate("get pointer", id, err)
	}
	if out.Item == nil {
		return refcount.Pointer{}, fmt.Errorf("refcount/dynamodb: pointer %q: %w", id, refcount.ErrNotFound)
	}
	return decodePointer(out.Item)
}

// MovePointer puts id's pointer to on the condition that it is from (batch and nonce). Like
// CreatePointer, the request is sent again only after a throttling error: a second request
// after the first was applied would find to and report refcount.ErrConflict.
func (st *Store) MovePointer(ctx context.Context, id string, from, to refcount.Pointer) error {
	if err := errors.Join(rules.CheckPointer(id, from), rules.CheckPointer(id, to)); err != nil {
		return err
	}
	cond, names, values := pointerIs(from)
	_, err := st.t.Client.PutItem(ctx, &ddb.PutItemInput{
		TableName:                 aws.String(st.t.Name),
		Item:                      ddbtable.Marshal(ddbitem.Pointer(st.t.Namespace, id, to.Batch, to.Nonce)),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}, onlyThrottled)
	return st.translate("move pointer", id, err)
}

// DeletePointer deletes id's pointer on the condition that it is p (batch and nonce), or that
// it is gone (so a retried delete whose first request was applied succeeds).
func (st *Store) DeletePointer(ctx context.Context, id string, p refcount.Pointer) error {
	if err := rules.CheckPointer(id, p); err != nil {
		return err
	}
	cond, names, values := pointerIs(p, ddbitem.AttrPK)
	_, err := st.t.Client.DeleteItem(ctx, &ddb.DeleteItemInput{
		TableName:                 aws.String(st.t.Name),
		Key:                       st.pointerKey(id),
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR " + cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	return st.translate("delete pointer", id, err)
}

// ListPointers scans the table for pointer items.
func (st *Store) ListPointers(ctx context.Context, fn func(id string, p refcount.Pointer) error) error {
	return st.scan(ctx, "list pointers", "begins_with(#pk, :p) AND #sk = :sk",
		map[string]string{"#pk": ddbitem.AttrPK, "#sk": ddbitem.AttrSK}, item{":p": str(ddbitem.PointerPrefix(st.t.Namespace)), ":sk": str(ddbitem.SKPointer)},
		func(it item) error {
			pk, err := getS(it, ddbitem.AttrPK, true)
			if err != nil {
				return err
			}
			id, ok := strings.CutPrefix(pk, ddbitem.PointerPrefix(st.t.Namespace))
			if !ok {
				return nil // not reached: the filter passes only this namespace's pointers
			}
			p, err := decodePointer(it)
			if err != nil {
				return err
			}
			return fn(id, p)
		})
}

// ItemNamespace returns the namespace of the store's items. With it the store is a
// meter.Reporter: its requests report what they cost (the server's consumed capacity, through
// the Table's client: see internal/ddbtable), and the vault's metering takes that figure
// instead of its model.
func (st *Store) ItemNamespace() string { return st.t.Namespace }

// TableClass returns the class of the store's table (ddbtable.Table.Class), which prices its
// DynamoDB usage.
func (st *Store) TableClass(ctx context.Context) (string, error) { return st.t.Class(ctx) }

// Close releases nothing: the SDK client holds no resources that need closing.
func (st *Store) Close() error { return nil }
