// Package embed turns text into vectors for clustering and similarity search: the Embedder
// interface, the built-in Hashed embedder that needs no network and no model, and the int8 form
// in which vectors are stored (Quantize, Quantized.AppendBinary, ParseQuantized, Dot).
//
// Hashed is feature hashing ("the hashing trick") over words: the text is split into lowercase
// words (runs of letters, digits and combining marks; each Han, Hiragana or Katakana character is
// a word of its own, since those scripts put no spaces between words), every word (unigram) and
// every pair of neighbouring words (bigram) is hashed to one of Dimensions coordinates with a
// random sign, weighted by sublinear term frequency (1 + ln tf) times an inverse document
// frequency, and the vector is scaled to unit length. It is a bag of words in a few hundred
// dimensions: texts that share rare words and word pairs are close; synonyms and paraphrases
// with other words are not (no model knows them here). Its parameters are Dimensions (default
// 256) and the IDF (default: a proxy, see HashedOptions). Cost: linear in the text, 19 to 25 MB
// of text per second on one core of the development machine (BenchmarkHashed), no I/O.
//
// Measured on ../shared/corpus/sample.jsonl (300 conversations; TestCorpusNeighbours,
// TestQuantizeCorpus): of the 49 conversations that share their first user message with
// another one (threads of one oasst tree, chosen and rejected hh-rlhf answers), 44 have such a
// conversation as their nearest neighbour (47 with 1024 dimensions, 41 with an IDF learned
// from the sample); int8 quantization changes the cosine of two conversations by at most
// 0.005 (mean 0.0006, over all 44,850 pairs).
//
// A Quantized vector of 256 dimensions is 260 bytes: a float32 scale and one int8 per dimension
// (a float32 vector is 1024 bytes).
package embed

import (
	"context"
	"errors"
)

// Embedder turns texts into vectors.
//
// Every vector returned by Embed has Dimensions components and unit length (L2 norm 1), so
// that the dot product of two vectors is their cosine similarity; the one exception is a text
// with nothing to embed (the empty text, or for Hashed a text without a letter or digit), which
// gets the zero vector: it is similar to nothing, and cluster.KMeans refuses it, so callers
// leave such texts out. Embed returns one vector per text, in order, or an error (a cancelled
// ctx, a failed remote call); it must be safe for concurrent use.
//
// Name identifies the model and its parameters, for example "hashed-v1-d256-proxy": vectors
// are stored with the Name of their embedder, and vectors of different Names are never
// compared, since their coordinates mean different things.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Dimensions() int
	Name() string
}

var (
	// ErrInvalid is wrapped by the errors of NewHashed for options it cannot use.
	ErrInvalid = errors.New("embed: invalid options")
	// ErrCorrupt is wrapped by the errors of ParseQuantized for bytes that AppendBinary does not
	// write.
	ErrCorrupt = errors.New("embed: corrupt quantized vector")
)
