package cost

// Report is what storing conversations costs, per million conversations, next to the
// baselines; "stowken bench" and "stowken stats" print it (the "cost" object of --json).
type Report struct {
	// Months is how many months of storage Total counts.
	Months int `json:"months"`
	// PerConversation is the usage of storing one conversation: the requests, and the bytes
	// kept.
	PerConversation Usage `json:"per_conversation"`
	// USDPerMillion is what a million conversations cost, ByService and ByPart its breakdown
	// (by "s3" and "dynamodb", and by part of the store).
	USDPerMillion Dollars            `json:"usd_per_million"`
	ByService     map[string]Dollars `json:"by_service"`
	ByPart        map[Part]Dollars   `json:"by_part"`
	// Baselines are the same conversations stored the simple ways: "naive" (NaiveGzipJSON) and
	// "delivery_stream" (DeliveryStream).
	Baselines map[string]Baseline `json:"baselines"`
	// Modelled is set when the figures are what the same requests and items would cost on S3
	// and DynamoDB, the store being local or in memory.
	Modelled bool `json:"modelled"`
	// Prices is the price table's source and the date it was checked; TableClass, the
	// DynamoDB table class priced.
	Prices     string `json:"prices"`
	TableClass string `json:"ddb_table_class"`
}

// Baseline is a baseline's cost.
type Baseline struct {
	PerConversation Usage   `json:"per_conversation"`
	USDPerMillion   Dollars `json:"usd_per_million"`
}

// Baseline names in Report.Baselines.
const (
	BaselineNaive    = "naive"
	BaselineDelivery = "delivery_stream"
)

// NewReport returns the cost of n conversations whose storing used parts (requests and the
// bytes kept, by part of the store), kept for months, with the baselines' usage for the same n
// conversations.
func NewReport(p Prices, months int, n int64, parts map[Part]Usage, naive, delivery Usage, modelled bool) Report {
	perMillion := func(u Usage) Dollars {
		if n == 0 {
			return Dollars{}
		}
		return p.Cost(u.Scale(1e6/float64(n)), months)
	}
	total := Total(parts)
	r := Report{Months: months, ByPart: map[Part]Dollars{}, Modelled: modelled, Prices: p.Source, TableClass: p.DDBTableClass}
	if r.TableClass == "" {
		r.TableClass = TableClassStandard
	}
	for part, u := range parts {
		if u != (Usage{}) { // a part this workload did not touch is left out
			r.ByPart[part] = perMillion(u)
		}
	}
	if n > 0 {
		r.PerConversation = total.Scale(1 / float64(n))
	}
	r.USDPerMillion = perMillion(total)
	r.ByService = map[string]Dollars{"s3": perMillion(total.S3()), "dynamodb": perMillion(total.DynamoDB())}
	r.Baselines = map[string]Baseline{}
	for name, u := range map[string]Usage{BaselineNaive: naive, BaselineDelivery: delivery} {
		b := Baseline{USDPerMillion: perMillion(u)}
		if n > 0 {
			b.PerConversation = u.Scale(1 / float64(n))
		}
		r.Baselines[name] = b
	}
	return r
}

// S3 is the S3 part of u: its requests and bytes.
func (u Usage) S3() Usage {
	return Usage{S3PutClass: u.S3PutClass, S3GetClass: u.S3GetClass, S3Delete: u.S3Delete, S3Bytes: u.S3Bytes}
}

// DynamoDB is the DynamoDB part of u: its request units and bytes.
func (u Usage) DynamoDB() Usage {
	return Usage{DDBWRU: u.DDBWRU, DDBRRU: u.DDBRRU, DDBBytes: u.DDBBytes}
}
