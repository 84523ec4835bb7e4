package cost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// Prices are list prices in US dollars. The JSON names are those of a --prices file, which
// may give any subset: the rest keep their defaults.
type Prices struct {
	// Source says where the prices come from and when they were checked; it is reported with
	// every cost figure.
	Source string `json:"source"`
	// S3 Standard: per 1,000 PUT-class and GET-class requests, per GB-month stored.
	S3PutPer1000 float64 `json:"s3_put_per_1000"`
	S3GetPer1000 float64 `json:"s3_get_per_1000"`
	S3GBMonth    float64 `json:"s3_gb_month"`
	// DynamoDB on-demand, Standard table class: per million write and read request units, per
	// GB-month stored.
	DDBWRUPerMillion float64 `json:"ddb_wru_per_million"`
	DDBRRUPerMillion float64 `json:"ddb_rru_per_million"`
	DDBGBMonth       float64 `json:"ddb_gb_month"`
	// The same for the Standard-IA table class: dearer requests, cheaper storage.
	DDBIAWRUPerMillion float64 `json:"ddb_ia_wru_per_million"`
	DDBIARRUPerMillion float64 `json:"ddb_ia_rru_per_million"`
	DDBIAGBMonth       float64 `json:"ddb_ia_gb_month"`
	// DDBTableClass is the table class whose DynamoDB prices apply: TableClassStandard,
	// TableClassStandardIA, or "" for the store's own table's class (vault.Vault.PricesFor:
	// Standard for a table that reports none, DefaultTableClass for a store without a table,
	// whose DynamoDB usage is modelled; Standard where nothing resolves it).
	DDBTableClass string `json:"ddb_table_class"`
	// SQS (standard queue): per million requests.
	SQSPerMillion float64 `json:"sqs_per_million"`
	// Lambda (arm64): per million invocations, per GB-second.
	LambdaPerMillion float64 `json:"lambda_per_million"`
	LambdaGBSecond   float64 `json:"lambda_gb_second"`
	// Amazon Data Firehose (Direct PUT): per GB ingested, each record rounded up to
	// FirehoseRecordBytes.
	FirehosePerGB float64 `json:"firehose_per_gb"`
}

// DynamoDB table classes, as a table's TableClass names them (and the Terraform module's
// table_class variable).
const (
	TableClassStandard   = "STANDARD"
	TableClassStandardIA = "STANDARD_INFREQUENT_ACCESS"
)

// DefaultTableClass is the class of the tables stowken creates (the Terraform module's
// table_class default, and ddbtable's EnsureTable), and the one the usage of a store without a
// table is priced in. A conversation's pointer item is written once and kept: Standard-IA's
// storage, 60% cheaper, outweighs its requests, 25% dearer, for conversations kept longer than
// about 6 months (docs/design.md, "The table class").
const DefaultTableClass = TableClassStandardIA

// FirehoseRecordBytes is the unit Amazon Data Firehose rounds every record up to for billing.
const FirehoseRecordBytes = 5 << 10

// gb is the gigabyte of AWS's storage and ingestion prices (2^30 bytes).
const gb = 1 << 30

// DefaultPrices returns the us-east-1 list prices of AWS's pricing pages
// (aws.amazon.com/s3/pricing, /dynamodb/pricing/on-demand, /sqs/pricing, /lambda/pricing,
// /firehose/pricing), first tier, without free tiers. DynamoDB's on-demand request prices are
// those after the November 2024 reduction, which halved them in both table classes.
func DefaultPrices() Prices {
	return Prices{
		Source:           "AWS list prices, us-east-1, first tier, no free tier (aws.amazon.com/<service>/pricing), checked 2026-12-03",
		S3PutPer1000:     0.005,
		S3GetPer1000:     0.0004,
		S3GBMonth:        0.023,
		DDBWRUPerMillion: 0.625,
		DDBRRUPerMillion: 0.125,
		DDBGBMonth:       0.25,
		// Standard-IA: $1.5625 and $0.3125 per million before the reduction; $0.10 per
		// GB-month.
		DDBIAWRUPerMillion: 0.78125,
		DDBIARRUPerMillion: 0.15625,
		DDBIAGBMonth:       0.10,
		SQSPerMillion:      0.40,
		LambdaPerMillion:   0.20,
		LambdaGBSecond:     0.0000133334,
		FirehosePerGB:      0.029,
	}
}

// LoadPrices reads a --prices file: a JSON object with any of Prices' fields, which replace
// the defaults. An unknown field or a negative price is an error, so that a misspelt name does
// not silently keep a default.
func LoadPrices(path string) (Prices, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Prices{}, fmt.Errorf("cost: prices: %w", err)
	}
	p := DefaultPrices()
	p.Source = "--prices " + path
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Prices{}, fmt.Errorf("cost: prices %s: %w", path, err)
	}
	if _, err := p.ForTableClass(p.DDBTableClass); err != nil {
		return Prices{}, fmt.Errorf("cost: prices %s: %w", path, err)
	}
	for name, v := range map[string]float64{"s3_put_per_1000": p.S3PutPer1000, "s3_get_per_1000": p.S3GetPer1000,
		"s3_gb_month": p.S3GBMonth, "ddb_wru_per_million": p.DDBWRUPerMillion, "ddb_rru_per_million": p.DDBRRUPerMillion,
		"ddb_gb_month": p.DDBGBMonth, "ddb_ia_wru_per_million": p.DDBIAWRUPerMillion, "ddb_ia_rru_per_million": p.DDBIARRUPerMillion,
		"ddb_ia_gb_month": p.DDBIAGBMonth, "sqs_per_million": p.SQSPerMillion, "lambda_per_million": p.LambdaPerMillion,
		"lambda_gb_second": p.LambdaGBSecond, "firehose_per_gb": p.FirehosePerGB} {
		if v < 0 {
			return Prices{}, fmt.Errorf("cost: prices %s: %s is negative", path, name)
		}
	}
	return p, nil
}

// OrDefaultClass returns p priced in DefaultTableClass when it names no class: how the usage of
// a store without a table (modelled) is priced.
func (p Prices) OrDefaultClass() Prices {
	if p.DDBTableClass == "" {
		p.DDBTableClass = DefaultTableClass
	}
	return p
}

// ForTableClass returns p with DDBTableClass set to class, which must be TableClassStandard,
// TableClassStandardIA or "" (Standard).
func (p Prices) ForTableClass(class string) (Prices, error) {
	switch class {
	case "", TableClassStandard, TableClassStandardIA:
		p.DDBTableClass = class
		return p, nil
	}
	return p, fmt.Errorf("DynamoDB table class %q: want %s or %s", class, TableClassStandard, TableClassStandardIA)
}

// ddb returns the DynamoDB prices of p's table class: per million WRU and RRU, per GB-month.
func (p Prices) ddb() (wru, rru, gbMonth float64) {
	if p.DDBTableClass == TableClassStandardIA {
		return p.DDBIAWRUPerMillion, p.DDBIARRUPerMillion, p.DDBIAGBMonth
	}
	return p.DDBWRUPerMillion, p.DDBRRUPerMillion, p.DDBGBMonth
}

// Writes is what the requests of u cost (S3, DynamoDB, SQS, Lambda, Firehose ingestion): what
// is paid once, when the data is written.
func (p Prices) Writes(u Usage) float64 {
	wru, rru, _ := p.ddb()
	return u.S3PutClass/1000*p.S3PutPer1000 + u.S3GetClass/1000*p.S3GetPer1000 +
		u.DDBWRU/1e6*wru + u.DDBRRU/1e6*rru +
		u.SQSRequests/1e6*p.SQSPerMillion +
		u.LambdaInvocations/1e6*p.LambdaPerMillion + u.LambdaGBSeconds*p.LambdaGBSecond +
		u.FirehoseBytes/gb*p.FirehosePerGB
}

// StoragePerMonth is what keeping the bytes of u costs per month.
func (p Prices) StoragePerMonth(u Usage) float64 {
	_, _, gbMonth := p.ddb()
	return u.S3Bytes/gb*p.S3GBMonth + u.DDBBytes/gb*gbMonth
}

// Dollars are the cost of a usage: Writes once, StoragePerMonth every month, and Total, the
// writes and Months of storage.
type Dollars struct {
	Writes          float64 `json:"writes"`
	StoragePerMonth float64 `json:"storage_per_month"`
	Total           float64 `json:"total"`
}

// Cost returns what u costs when its data is kept for months.
func (p Prices) Cost(u Usage, months int) Dollars {
	d := Dollars{Writes: p.Writes(u), StoragePerMonth: p.StoragePerMonth(u)}
	d.Total = d.Writes + float64(months)*d.StoragePerMonth
	return d
}

// DeliveryBatchBytes is the buffer of the delivery-stream baseline: Firehose writes one S3
// object per 128 MB of records, its largest buffer.
const DeliveryBatchBytes = 128 << 20

// NaiveGzipJSON is the usage of the simplest baseline: every conversation written as one gzip
// JSON object (one PUT each), gzipBytes stored in all.
func NaiveGzipJSON(conversations int, gzipBytes int64) Usage {
	return Usage{S3PutClass: float64(conversations), S3Bytes: float64(gzipBytes)}
}

// DeliveryStream is the usage of sending every conversation as one JSON-line record through
// Amazon Data Firehose into S3: ingestion billed per record rounded up to FirehoseRecordBytes,
// one PUT per DeliveryBatchBytes of records, gzipBytes stored (the batches, gzipped).
func DeliveryStream(recordBytes []int, gzipBytes int64) Usage {
	var raw, billed int64
	for _, n := range recordBytes {
		raw += int64(n)
		billed += (int64(n) + FirehoseRecordBytes - 1) / FirehoseRecordBytes * FirehoseRecordBytes
	}
	batches := (raw + DeliveryBatchBytes - 1) / DeliveryBatchBytes
	return Usage{S3PutClass: float64(batches), FirehoseBytes: float64(billed), S3Bytes: float64(gzipBytes)}
}
