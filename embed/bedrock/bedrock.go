// Package bedrock is an embed.Embedder backed by an Amazon Bedrock embedding model, Amazon Titan
// Text Embeddings V2 (model id "amazon.titan-embed-text-v2:0") by default, called through the
// Bedrock Runtime InvokeModel operation of the AWS SDK for Go v2. It lets AWS users put a real
// language model behind stowken's clustering and similarity search, where embed.Hashed only
// matches shared words.
//
// The request body is that of Titan Text Embeddings V2, {"inputText": ..., "dimensions": N,
// "normalize": true}, and the response body {"embedding": [...], "inputTextTokenCount": n}; the
// model named in Options must take that format (Titan V2 itself, or an inference profile or a
// provisioned throughput of it). Titan V2 takes one non-blank text of at most 8,192 tokens or
// 50,000 characters per request: Bedrock rejects a longer one (a ValidationException), and the
// error of Embed says which text it was.
//
// Cost: one InvokeModel call per non-blank text, so one network round trip each (Concurrency of
// them at once), and AWS bills Titan Text Embeddings V2 per input token (the price per 1,000
// input tokens, which depends on the region, is on the Amazon Bedrock pricing page,
// https://aws.amazon.com/bedrock/pricing/; InputTokens counts the tokens Bedrock reported).
// Bedrock also limits the requests per minute of each account and model: a throttled call is
// retried by the client's retryer, then fails.
//
// The vectors mean something only next to vectors of the same model and dimensions: compare
// them only with vectors made by an embedder of the same Name, never with those of embed.Hashed
// or of another model or number of dimensions.
package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"golang.org/x/sync/errgroup"

	"github.com/stowken/stowken/embed"
)

// DefaultModel is the model id used when Options leaves Model empty: Amazon Titan Text
// Embeddings V2.
const DefaultModel = "amazon.titan-embed-text-v2:0"

// DefaultDimensions is the length of the vectors when Options leaves Dimensions zero.
const DefaultDimensions = 256

// DefaultConcurrency is the number of InvokeModel calls Embed makes at once when Options leaves
// Concurrency zero.
const DefaultConcurrency = 4

// validDimensions are the vector lengths Titan Text Embeddings V2 offers.
var validDimensions = []int{256, 512, 1024}

// ErrResponse is wrapped by the errors of Embed for a response body it cannot use: not JSON,
// an embedding of the wrong length, a component that is not finite, or the zero vector.
var ErrResponse = errors.New("bedrock: malformed embedding response")

// Options configures New. The zero value gives the defaults.
type Options struct {
	// Model is the model id (or the ARN of an inference profile or provisioned throughput) given
	// to InvokeModel; empty means DefaultModel. The model must take the request body of Titan
	// Text Embeddings V2 (see the package documentation).
	Model string
	// Dimensions is the length of the vectors: 256, 512 or 1024 (the lengths Titan Text
	// Embeddings V2 offers); zero means DefaultDimensions (256).
	Dimensions int
	// Concurrency is the largest number of InvokeModel calls one Embed makes at once; zero means
	// DefaultConcurrency (4). Concurrent calls of Embed each have their own.
	Concurrency int
}

// Embedder is an embed.Embedder that calls a Bedrock embedding model once per text. Safe for
// concurrent use.
type Embedder struct {
	client *bedrockruntime.Client
	model  string
	dims   int
	conc   int
	name   string
	tokens atomic.Int64
}

var _ embed.Embedder = (*Embedder)(nil)

// New returns an Embedder that calls the model of opts through client, which carries the
// region, credentials, endpoint and retry policy (build it with bedrockruntime.NewFromConfig).
// Its errors wrap embed.ErrInvalid: a nil client, a Model with white space in it, Dimensions
// other than 0, 256, 512 or 1024, or a negative Concurrency. It makes no call.
func New(client *bedrockruntime.Client, opts Options) (*Embedder, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: bedrock: nil client", embed.ErrInvalid)
	}
	model := opts.Model
	if model == "" {
		model = DefaultModel
	}
	if strings.IndexFunc(model, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return nil, fmt.Errorf("%w: bedrock: model id %q has white space or control characters", embed.ErrInvalid, model)
	}
	dims := opts.Dimensions
	if dims == 0 {
		dims = DefaultDimensions
	}
	if !slices.Contains(validDimensions, dims) {
		return nil, fmt.Errorf("%w: bedrock: dimensions %d not one of %v", embed.ErrInvalid, opts.Dimensions, validDimensions)
	}
	conc := opts.Concurrency
	if conc == 0 {
		conc = DefaultConcurrency
	}
	if conc < 1 {
		return nil, fmt.Errorf("%w: bedrock: concurrency %d below 1", embed.ErrInvalid, opts.Concurrency)
	}
	return &Embedder{
		client: client,
		model:  model,
		dims:   dims,
		conc:   conc,
		name:   "bedrock:" + model + ":d" + strconv.Itoa(dims),
	}, nil
}

// Dimensions returns the length of the vectors.
func (e *Embedder) Dimensions() int { return e.dims }

// Name returns "bedrock:<model>:d<dimensions>", for example
// "bedrock:amazon.titan-embed-text-v2:0:d256".
func (e *Embedder) Name() string { return e.name }

// InputTokens returns the sum of the inputTextTokenCount of every response this Embedder has
// accepted, the number AWS bills by (calls whose response was rejected are not counted, though
// they may have been billed).
func (e *Embedder) InputTokens() int64 { return e.tokens.Load() }

// Embed returns the unit vector of each text, in the order of texts, calling InvokeModel once
// per text with up to Concurrency calls at once. A text that is empty or only white space gets
// the zero vector without a call (Titan V2 refuses such texts). On the first failure Embed
// cancels the calls under way and returns an error naming the index of the text and wrapping
// the SDK's error (errors.As finds the service's exception, such as
// *types.ValidationException or *types.ThrottlingException of bedrockruntime/types), ErrResponse
// for a malformed response, or the error of ctx once it is done.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([][]float32, len(texts))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.conc)
	for i, t := range texts {
		if strings.TrimSpace(t) == "" {
			out[i] = make([]float32, e.dims)
			continue
		}
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			v, err := e.embedOne(gctx, t)
			if err != nil {
				return fmt.Errorf("bedrock: text %d: %w", i, err)
			}
			out[i] = v
			return nil
		})
	}
	err := g.Wait()
	if ctxErr := ctx.Err(); ctxErr != nil {
		// The caller's ctx ended: report that, with the call it interrupted if any.
		if err == nil || !errors.Is(err, ctxErr) {
			err = errors.Join(ctxErr, err)
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// request is the InvokeModel body of Titan Text Embeddings V2.
type request struct {
	InputText  string `json:"inputText"`
	Dimensions int    `json:"dimensions"`
	Normalize  bool   `json:"normalize"`
}

// response is the part of the InvokeModel response body of Titan Text Embeddings V2 that Embed
// reads.
type response struct {
	Embedding           []float64 `json:"embedding"`
	InputTextTokenCount int64     `json:"inputTextTokenCount"`
}

// embedOne calls InvokeModel for one text and returns its unit vector.
func (e *Embedder) embedOne(ctx context.Context, text string) ([]float32, error) {
	body, err := json.Marshal(request{InputText: text, Dimensions: e.dims, Normalize: true})
	if err != nil {
		return nil, err // cannot happen: a string and two scalars
	}
	res, err := e.client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{
		ModelId:     aws.String(e.model),
		Body:        body,
		ContentType: aws.String("application/json"),
		Accept:      aws.String("application/json"),
	})
	if err != nil {
		return nil, err
	}
	var r response
	if err := json.Unmarshal(res.Body, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrResponse, err)
	}
	if len(r.Embedding) != e.dims {
		return nil, fmt.Errorf("%w: embedding of %d dimensions, want %d", ErrResponse, len(r.Embedding), e.dims)
	}
	// Titan normalizes already (normalize: true); normalize again, in float64, so that the
	// vector has unit length in float32 whatever the model returned.
	var norm float64
	for _, x := range r.Embedding {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%w: embedding has a component %v", ErrResponse, x)
		}
		norm += x * x
	}
	if norm == 0 || math.IsInf(norm, 0) {
		return nil, fmt.Errorf("%w: embedding has norm %v", ErrResponse, math.Sqrt(norm))
	}
	inv := 1 / math.Sqrt(norm)
	v := make([]float32, e.dims)
	for i, x := range r.Embedding {
		v[i] = float32(x * inv)
	}
	if r.InputTextTokenCount > 0 {
		e.tokens.Add(r.InputTextTokenCount)
	}
	return v, nil
}
