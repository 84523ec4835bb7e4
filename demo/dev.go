package demo

import (
	"github.com/stowken/stowken/conversation"
)

var devApp = &app{
	name:      "devpilot",
	short:     "dp",
	model:     "gpt-4.1-2025-04-14",
	tokenizer: "o200k_base",
	weight:    35,
	system: `You are DevPilot, a coding assistant embedded in the developer's editor. You work inside one repository, which you can inspect and change only through the tools below. The developer sees your messages in a side panel and every patch you apply in their editor, where they can undo it.

How to work:
- Understand before you change. Read the relevant files and run the relevant tests before proposing a fix; do not guess file contents or test output.
- Keep changes minimal and in the style of the surrounding code: same naming, same error handling, same comment style. Do not reformat code you do not otherwise touch.
- After applying a patch, run the affected tests again and report the result honestly. If they still fail, say so and continue investigating, or explain what you would need from the developer.
- Prefer the standard library and the dependencies the repository already has. Never add a dependency without asking.
- When you are asked to explain code, explain what it does, then anything surprising or wrong about it, with line references. Be concrete.
- When you write code in a message (rather than a patch), put it in a fenced code block with the language name.

Tools:
- read_file(path, start_line?, end_line?) returns the file's content with line numbers.
- search_code(query, path_glob?) searches the repository (ripgrep syntax) and returns matching lines with file names and line numbers, at most 50 matches.
- run_tests(target) runs the tests of a package or file (go test for Go packages, pytest for Python files) with a 120 second timeout and returns the output, truncated to the last 200 lines.
- apply_patch(patch) applies a unified diff to the working tree; it fails without changing anything if any hunk does not apply.

Safety: never run or suggest commands that delete data, push to a remote, or change credentials. Do not print secrets you find in the repository; mention that a secret is there and suggest moving it to the secret store. If the developer asks for something outside the repository (deploying, opening tickets), say that you cannot do that from the editor.

Tone: direct and collegial. No filler, no apologies for things that are not your fault. Answer in the language the developer writes in.`,
	tools: compactJSON(`[
  {"type": "function", "function": {
    "name": "read_file",
    "description": "Read a file of the repository, with line numbers.",
    "parameters": {"type": "object", "properties": {
      "path": {"type": "string", "description": "Path relative to the repository root."},
      "start_line": {"type": "integer", "minimum": 1},
      "end_line": {"type": "integer", "minimum": 1}
    }, "required": ["path"], "additionalProperties": false}}},
  {"type": "function", "function": {
    "name": "search_code",
    "description": "Search the repository with a regular expression (ripgrep syntax). Returns at most 50 matching lines.",
    "parameters": {"type": "object", "properties": {
      "query": {"type": "string"},
      "path_glob": {"type": "string", "description": "Only search files matching this glob, e.g. **/*.go."}
    }, "required": ["query"], "additionalProperties": false}}},
  {"type": "function", "function": {
    "name": "run_tests",
    "description": "Run the tests of a Go package (./path/to/pkg) or a Python test file and return the output.",
    "parameters": {"type": "object", "properties": {
      "target": {"type": "string"},
      "run": {"type": "string", "description": "Only run tests matching this pattern (go test -run / pytest -k)."}
    }, "required": ["target"], "additionalProperties": false}}},
  {"type": "function", "function": {
    "name": "apply_patch",
    "description": "Apply a unified diff to the working tree. All hunks must apply, or nothing is changed.",
    "parameters": {"type": "object", "properties": {
      "patch": {"type": "string", "description": "A unified diff with paths relative to the repository root."}
    }, "required": ["patch"], "additionalProperties": false}}}
]`),
	chat: devChat,
}

const limiterGo = `  1  // Package ratelimit implements a token-bucket rate limiter for outgoing API calls.
  2  package ratelimit
  3
  4  import (
  5  	"sync"
  6  	"time"
  7  )
  8
  9  // Limiter hands out up to Burst tokens at once and refills Rate tokens per second.
 10  type Limiter struct {
 11  	mu     sync.Mutex
 12  	rate   float64
 13  	burst  int
 14  	tokens float64
 15  	last   time.Time
 16  	now    func() time.Time
 17  }
 18
 19  // New returns a full limiter.
 20  func New(rate float64, burst int) *Limiter {
 21  	return &Limiter{rate: rate, burst: burst, tokens: float64(burst), now: time.Now}
 22  }
 23
 24  // Allow reports whether one token is available and takes it.
 25  func (l *Limiter) Allow() bool {
 26  	l.mu.Lock()
 27  	defer l.mu.Unlock()
 28  	now := l.now()
 29  	if !l.last.IsZero() {
 30  		elapsed := now.Sub(l.last).Seconds()
 31  		l.tokens = min(float64(l.burst), l.tokens+float64(int(elapsed*l.rate)))
 32  	}
 33  	l.last = now
 34  	if l.tokens < 1 {
 35  		return false
 36  	}
 37  	l.tokens--
 38  	return true
 39  }`

const limiterTestOutput = `=== RUN   TestLimiterBurst
--- PASS: TestLimiterBurst (0.00s)
=== RUN   TestLimiterRefill
    limiter_test.go:48: 100 calls 10ms apart at 10/s after the burst: allowed 0, want 10
--- FAIL: TestLimiterRefill (0.00s)
=== RUN   TestLimiterConcurrent
--- PASS: TestLimiterConcurrent (0.01s)
FAIL
FAIL	example.com/acme/gateway/internal/ratelimit	0.019s
FAIL`

const limiterPatch = `--- a/internal/ratelimit/limiter.go
+++ b/internal/ratelimit/limiter.go
@@ -29,7 +29,7 @@ func (l *Limiter) Allow() bool {
 	if !l.last.IsZero() {
 		elapsed := now.Sub(l.last).Seconds()
-		l.tokens = min(float64(l.burst), l.tokens+float64(int(elapsed*l.rate)))
+		l.tokens = min(float64(l.burst), l.tokens+elapsed*l.rate)
 	}
 	l.last = now
 	if l.tokens < 1 {`

const invoicePy = `  1  from dataclasses import dataclass
  2  from decimal import Decimal, ROUND_HALF_UP
  3
  4
  5  @dataclass
  6  class Coupon:
  7      code: str
  8      kind: str  # "percent" or "fixed"
  9      value: Decimal
 10
 11
 12  def apply_discounts(subtotal: Decimal, coupons: list[Coupon]) -> Decimal:
 13      """Return the subtotal after all coupons, never below zero."""
 14      total = subtotal
 15      for c in coupons:
 16          if c.kind == "percent":
 17              total -= subtotal * c.value / 100
 18          elif c.kind == "fixed":
 19              total -= c.value
 20          else:
 21              raise ValueError(f"unknown coupon kind {c.kind!r}")
 22      total = max(total, Decimal("0"))
 23      return total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)`

func devChat(g *gen) []conversation.Message {
	switch g.r.IntN(3) {
	case 0:
		return devFailingTest(g)
	case 1:
		return devExplain(g)
	default:
		return devWrite(g)
	}
}

func devFailingTest(g *gen) []conversation.Message {
	msgs := []conversation.Message{user(g.pick([]string{
		"go test ./internal/ratelimit fails since this morning, can you take a look?",
		"TestLimiterRefill is red on CI. Can you figure out why?",
		"ratelimit tests are failing, pls fix",
	}))}
	c, id := g.call("run_tests", map[string]string{"target": "./internal/ratelimit"})
	msgs = append(msgs, c, result(id, "run_tests", limiterTestOutput))
	c, id = g.call("read_file", map[string]string{"path": "internal/ratelimit/limiter.go"})
	msgs = append(msgs, c, result(id, "read_file", limiterGo))
	fix, id := g.call("apply_patch", map[string]string{"patch": limiterPatch})
	fix.ContentNull = false
	fix.Content = "Found it. On line 31 the refill is truncated to whole tokens: `float64(int(elapsed*l.rate))`. With calls 10 ms apart at 10/s, each call should refill 0.1 tokens, which becomes 0, and the fraction is lost because `l.last` is updated anyway. So with frequent calls the limiter never refills at all. The fix is to keep fractional tokens:"
	msgs = append(msgs, fix, result(id, "apply_patch", "Applied 1 hunk to internal/ratelimit/limiter.go (1 insertion, 1 deletion)."))
	c, id = g.call("run_tests", map[string]string{"target": "./internal/ratelimit"})
	msgs = append(msgs, c, result(id, "run_tests", "ok  \texample.com/acme/gateway/internal/ratelimit\t0.014s"))
	msgs = append(msgs, assistant("The tests pass now.\n\nCause: `Allow` converted the refill to an `int` before adding it (line 31), so every call dropped the fractional part of the refill while still advancing `l.last`. With frequent calls the effective rate was well below the configured one, which is what `TestLimiterRefill` caught.\n\nFix: add `elapsed*l.rate` as a float; `tokens` is already a `float64`, and the `min` with `burst` still caps it."))
	if g.chance(0.6) {
		msgs = append(msgs, user(g.pick([]string{
			"nice. can you also add a test for rate 0? it should allow exactly burst calls and then nothing",
			"Thanks! Could you add a test that a zero rate never refills?",
		})))
		patch := "--- a/internal/ratelimit/limiter_test.go\n+++ b/internal/ratelimit/limiter_test.go\n@@ -71,3 +71,17 @@ func TestLimiterConcurrent(t *testing.T) {\n \twg.Wait()\n }\n+\n+func TestLimiterZeroRate(t *testing.T) {\n+\tclock := time.Unix(0, 0)\n+\tl := New(0, 3)\n+\tl.now = func() time.Time { return clock }\n+\tfor i := range 3 {\n+\t\tif !l.Allow() {\n+\t\t\tt.Fatalf(\"call %d refused, want the burst of 3 allowed\", i)\n+\t\t}\n+\t}\n+\tclock = clock.Add(time.Hour)\n+\tif l.Allow() {\n+\t\tt.Fatal(\"call allowed after the burst at rate 0\")\n+\t}\n+}\n"
		c, id = g.call("apply_patch", map[string]string{"patch": patch})
		msgs = append(msgs, c, result(id, "apply_patch", "Applied 1 hunk to internal/ratelimit/limiter_test.go (14 insertions)."))
		c, id = g.call("run_tests", map[string]string{"target": "./internal/ratelimit", "run": "TestLimiterZeroRate"})
		msgs = append(msgs, c, result(id, "run_tests", "=== RUN   TestLimiterZeroRate\n--- PASS: TestLimiterZeroRate (0.00s)\nPASS\nok  \texample.com/acme/gateway/internal/ratelimit\t0.006s"))
		msgs = append(msgs, assistant("Added `TestLimiterZeroRate`: with rate 0 and burst 3 it allows three calls, then refuses a fourth even an hour later (the test uses a fake clock, so it runs instantly). It passes."))
	}
	return msgs
}

func devExplain(g *gen) []conversation.Message {
	msgs := []conversation.Message{user(g.pick([]string{
		"What does apply_discounts in billing do? Finance says totals are off when people stack coupons.",
		"can you explain apply_discounts? I think it's wrong with multiple coupons",
		"Explain the discount logic in the invoice module please",
	}))}
	c, id := g.call("search_code", map[string]string{"query": "def apply_discounts", "path_glob": "**/*.py"})
	msgs = append(msgs, c, result(id, "search_code", "billing/invoice.py:12:def apply_discounts(subtotal: Decimal, coupons: list[Coupon]) -> Decimal:\ntests/test_invoice.py:4:from billing.invoice import Coupon, apply_discounts"))
	c, id = g.call("read_file", map[string]string{"path": "billing/invoice.py"})
	msgs = append(msgs, c, result(id, "read_file", invoicePy))
	msgs = append(msgs, assistant("`apply_discounts` (billing/invoice.py, lines 12–23) subtracts every coupon from the subtotal, clamps the result at zero and rounds to cents:\n\n- a `percent` coupon subtracts `value`% **of the original subtotal** (line 17),\n- a `fixed` coupon subtracts its amount (line 19),\n- anything else raises `ValueError`.\n\nThat explains what finance sees. Because every percentage is taken of the original subtotal, stacked percentage coupons add up instead of compounding: two 50% coupons make the order free, and a 10% coupon is worth the same before or after a €20 fixed coupon. Most shops apply percentages to the running total, usually after fixed amounts. There is also no rounding until the end, which is fine with `Decimal`, but means a single coupon's discount is never shown to the customer as the exact cents that were subtracted."))
	if g.chance(0.7) {
		msgs = append(msgs, user(g.pick([]string{
			"Could you rewrite it so fixed coupons come first and percentages apply to the running total?",
			"ok so how would you fix it? fixed first, then percent of what's left",
		})))
		msgs = append(msgs, assistant("Here's a version that applies fixed coupons first and then each percentage to the running total, rounding each step to cents so every line on the invoice adds up:\n\n```python\ndef apply_discounts(subtotal: Decimal, coupons: list[Coupon]) -> Decimal:\n    \"\"\"Return the subtotal after all coupons, never below zero.\n\n    Fixed coupons are applied first, then percentage coupons, each to the\n    running total. Every step is rounded to cents.\n    \"\"\"\n    cents = Decimal(\"0.01\")\n    for c in coupons:\n        if c.kind not in (\"percent\", \"fixed\"):\n            raise ValueError(f\"unknown coupon kind {c.kind!r}\")\n    total = subtotal\n    for c in (c for c in coupons if c.kind == \"fixed\"):\n        total = max(total - c.value, Decimal(\"0\"))\n    for c in (c for c in coupons if c.kind == \"percent\"):\n        total -= (total * c.value / 100).quantize(cents, rounding=ROUND_HALF_UP)\n    return max(total, Decimal(\"0\")).quantize(cents, rounding=ROUND_HALF_UP)\n```\n\nThis changes totals for every order with more than one coupon, so I'd check with finance before merging, and add tests for: two percentage coupons, fixed + percentage in both input orders, and a fixed coupon larger than the subtotal. Want me to apply it and write those tests?"))
	}
	return msgs
}

func devWrite(g *gen) []conversation.Message {
	msgs := []conversation.Message{user(g.pick([]string{
		"Write a Go function that retries an HTTP GET with exponential backoff and jitter, max 5 attempts.",
		"I need a small Go helper: retry http requests on 5xx and network errors, exponential backoff with jitter.",
		"go: how do I retry an HTTP call properly? backoff + jitter, give me a function",
	}))}
	msgs = append(msgs, assistant("Here's a helper that retries on network errors and 5xx responses, with exponential backoff and full jitter, and stops early when the context is cancelled:\n\n```go\n// GetWithRetry performs GET url, retrying network errors and 5xx responses up to\n// maxAttempts times with exponential backoff (base 100ms, cap 5s) and full jitter.\nfunc GetWithRetry(ctx context.Context, c *http.Client, url string, maxAttempts int) (*http.Response, error) {\n\tconst base, maxDelay = 100 * time.Millisecond, 5 * time.Second\n\tvar lastErr error\n\tfor attempt := 0; attempt < maxAttempts; attempt++ {\n\t\tif attempt > 0 {\n\t\t\tdelay := min(base<<(attempt-1), maxDelay)\n\t\t\tselect {\n\t\t\tcase <-ctx.Done():\n\t\t\t\treturn nil, ctx.Err()\n\t\t\tcase <-time.After(rand.N(delay)):\n\t\t\t}\n\t\t}\n\t\treq, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)\n\t\tif err != nil {\n\t\t\treturn nil, err\n\t\t}\n\t\tresp, err := c.Do(req)\n\t\tif err != nil {\n\t\t\tlastErr = err\n\t\t\tcontinue\n\t\t}\n\t\tif resp.StatusCode < 500 {\n\t\t\treturn resp, nil\n\t\t}\n\t\tresp.Body.Close()\n\t\tlastErr = fmt.Errorf(\"GET %s: %s\", url, resp.Status)\n\t}\n\treturn nil, fmt.Errorf(\"giving up after %d attempts: %w\", maxAttempts, lastErr)\n}\n```\n\nNotes:\n- `rand.N` is from `math/rand/v2`; full jitter (a random delay between 0 and the backoff) spreads out clients that failed at the same time.\n- Only GET is retried here because it is idempotent. Don't reuse this for POST without an idempotency key.\n- 429 is not retried; if the API uses it, treat it like a 5xx and honour `Retry-After`."))
	if g.chance(0.6) {
		msgs = append(msgs, user("Good. Can you make it honour Retry-After on 429 and 503?"))
		msgs = append(msgs, assistant("Sure. Parse `Retry-After` (seconds or an HTTP date) and use it instead of the computed delay when it's present, capped so a bad header can't stall you forever:\n\n```go\n// retryAfter returns the delay a 429 or 503 response asks for, or 0.\nfunc retryAfter(resp *http.Response, now time.Time) time.Duration {\n\tv := resp.Header.Get(\"Retry-After\")\n\tif v == \"\" {\n\t\treturn 0\n\t}\n\tif secs, err := strconv.Atoi(v); err == nil && secs >= 0 {\n\t\treturn time.Duration(secs) * time.Second\n\t}\n\tif t, err := http.ParseTime(v); err == nil {\n\t\treturn max(t.Sub(now), 0)\n\t}\n\treturn 0\n}\n```\n\nIn the loop, replace the 5xx branch with:\n\n```go\n\t\tif resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {\n\t\t\twait := retryAfter(resp, time.Now())\n\t\t\tresp.Body.Close()\n\t\t\tlastErr = fmt.Errorf(\"GET %s: %s\", url, resp.Status)\n\t\t\tif wait > 0 {\n\t\t\t\tnextDelay = min(wait, 30*time.Second)\n\t\t\t}\n\t\t\tcontinue\n\t\t}\n\t\treturn resp, nil\n```\n\nand declare `var nextDelay time.Duration` before the loop; at the top of each retry, sleep `nextDelay` if it is set (then reset it to 0), otherwise the jittered backoff."))
	}
	return msgs
}
