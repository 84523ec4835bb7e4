package ddbtable

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/stowken/stowken/cost"
)

// DefaultRegion is the region used when neither the URL nor the environment names one.
const DefaultRegion = "us-east-1"

// DefaultMaxAttempts is the number of attempts the SDK makes per request, the first included,
// when Options.MaxAttempts is 0.
const DefaultMaxAttempts = 10

// Options tune Open. The zero value is ready to use.
type Options struct {
	// HTTPClient, when set, sends the requests instead of the SDK's default client (tests use it
	// to inject faults). It is used as is: AWS_CA_BUNDLE does not apply to it.
	HTTPClient aws.HTTPClient
	// Credentials, when set, replace the SDK's default credential chain.
	Credentials aws.CredentialsProvider
	// MaxAttempts is the number of attempts per request, the first included; 0 means
	// DefaultMaxAttempts.
	MaxAttempts int
	// Namespace is put into every key the stores write and read (see the package
	// documentation): UTF-8 without '#' or NUL.
	Namespace string
}

// Table is the table and the namespace the stores on it use. Make it with Open.
type Table struct {
	// Client sends the requests, configured as Open says.
	Client *ddb.Client
	// Name is the table's name.
	Name string
	// Namespace is the prefix of the store's keys (Options.Namespace).
	Namespace string
}

// target is what a dynamodb:// URL names.
type target struct {
	table    string
	region   string // "" → from the environment, then DefaultRegion
	endpoint string // "" → from the environment, then AWS
}

var tableNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

// CheckURL reports whether u is a table URL Open accepts, without opening anything.
func CheckURL(u *url.URL) error {
	_, err := parseURL(u)
	return err
}

// parseURL parses dynamodb://TABLE[?region=R][&endpoint=URL].
func parseURL(u *url.URL) (target, error) {
	if u == nil {
		return target{}, errors.New("ddbtable: nil URL")
	}
	bad := func(format string, args ...any) (target, error) {
		return target{}, fmt.Errorf("ddbtable: URL %q: "+format, append([]any{u.Redacted()}, args...)...)
	}
	if u.Scheme != "dynamodb" {
		return bad("scheme must be dynamodb")
	}
	if u.Opaque != "" || u.User != nil || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return bad("want dynamodb://TABLE[?region=REGION][&endpoint=URL]")
	}
	if !tableNameRE.MatchString(u.Host) {
		return bad("table name %q must be 3 to 255 letters, digits, '_', '-' or '.'", u.Host)
	}
	t := target{table: u.Host}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("%v", err)
	}
	for k, v := range q {
		if len(v) != 1 || v[0] == "" {
			return bad("parameter %s must be given once, with a value", k)
		}
		switch k {
		case "region":
			t.region = v[0]
		case "endpoint":
			e, err := url.Parse(v[0])
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return bad("endpoint %q must be an http or https URL", v[0])
			}
			t.endpoint = v[0]
		default:
			return bad("unknown parameter %q (want region or endpoint)", k)
		}
	}
	return t, nil
}

// Open returns the table u names (dynamodb://TABLE[?region=R][&endpoint=URL]) in
// opts.Namespace, with a client configured from u, then the SDK's default configuration: the
// standard retryer with opts.MaxAttempts and no client-side retry quota. It does not contact
// the server; EnsureTable creates the table.
func Open(ctx context.Context, u *url.URL, opts Options) (*Table, error) {
	if !utf8.ValidString(opts.Namespace) || strings.ContainsAny(opts.Namespace, "#\x00") {
		return nil, fmt.Errorf("ddbtable: namespace %q must be UTF-8 without '#' or NUL", opts.Namespace)
	}
	t, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	var load []func(*config.LoadOptions) error
	if t.region != "" {
		load = append(load, config.WithRegion(t.region))
	}
	if opts.Credentials != nil {
		load = append(load, config.WithCredentialsProvider(opts.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("ddbtable: loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	attempts := opts.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	client := ddb.NewFromConfig(cfg, func(o *ddb.Options) {
		if t.endpoint != "" {
			o.BaseEndpoint = aws.String(t.endpoint)
		}
		if opts.HTTPClient != nil {
			o.HTTPClient = opts.HTTPClient
		}
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			so.BaseDelay = 25 * time.Millisecond
			so.MaxBackoff = 5 * time.Second
			so.RateLimiter = ratelimit.None
		})
		o.APIOptions = append(o.APIOptions, addUsageMiddleware)
	})
	return &Table{Client: client, Name: t.table, Namespace: opts.Namespace}, nil
}

// CutNamespace returns key without the Table's namespace in front, and whether key was in the
// namespace (ddbitem's keys put it there: listings use it to skip other namespaces' items).
func (t *Table) CutNamespace(key string) (name string, ok bool) {
	return strings.CutPrefix(key, t.Namespace)
}

// TableError translates the errors that concern the table rather than an item: a missing
// table, and a missing index (a table created without the catalog's indexes), each saying how
// to create it, with what (the operation) in front and err wrapped. It returns nil for any
// other error, which the store translates itself.
func (t *Table) TableError(what string, err error) error {
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) {
		return fmt.Errorf("%s: table %q does not exist (create it with stowken init, which runs EnsureTable): %w", what, t.Name, err)
	}
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "ValidationException" && strings.Contains(api.ErrorMessage(), "specified index") {
		return fmt.Errorf("%s: table %q lacks the catalog's indexes (TableSchema; add them with terraform apply or UpdateTable): %w", what, t.Name, err)
	}
	return nil
}

// Class returns the table's class (cost.TableClassStandard or cost.TableClassStandardIA) from
// DescribeTable; a table that reports none (dynalite) is Standard.
func (t *Table) Class(ctx context.Context) (string, error) {
	out, err := t.Client.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(t.Name)})
	if err != nil {
		if terr := t.TableError("ddbtable: describe", err); terr != nil {
			return "", terr
		}
		return "", fmt.Errorf("ddbtable: describe table %q: %w", t.Name, err)
	}
	if s := out.Table.TableClassSummary; s != nil && s.TableClass != "" {
		return string(s.TableClass), nil
	}
	return cost.TableClassStandard, nil
}
