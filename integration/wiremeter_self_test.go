package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stowken/stowken/internal/testenv"
)

// TestWireMeter checks the wire meter against the servers: raw SDK clients pointed at a meter
// in front of MinIO and of dynalite make requests whose billing units are worked out by hand,
// and the meter must count exactly those.
func TestWireMeter(t *testing.T) {
	t.Parallel()
	s3ep, ddbep := servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	load := []func(*config.LoadOptions) error{config.WithRegion("us-east-1")}
	if c := testenv.Credentials(); c != nil {
		load = append(load, config.WithCredentialsProvider(c))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("S3", func(t *testing.T) { testWireMeterS3(ctx, t, cfg, s3ep) })
	t.Run("DynamoDB", func(t *testing.T) { testWireMeterDynamoDB(ctx, t, cfg, ddbep) })
}

// checkWireCounts fails the test unless the meter counted want since the last Reset (a nil
// want.DDBOps means none), then resets it.
func checkWireCounts(t *testing.T, m *wireMeter, step string, want wireCounts) {
	t.Helper()
	if want.DDBOps == nil {
		want.DDBOps = map[string]int{}
	}
	if got := m.Snapshot(); !reflect.DeepEqual(got, want) {
		t.Errorf("%s: the meter counted\n\t%+v\nwant\t%+v", step, got, want)
	}
	m.Reset()
}

// testWireMeterS3 makes one request of each kind the project makes through a meter in front of
// the S3 server, in a bucket of its own, and checks the classes and bytes counted.
func testWireMeterS3(ctx context.Context, t *testing.T, cfg aws.Config, endpoint string) {
	m := startWireMeter(t, endpoint, nil)
	client := awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		o.BaseEndpoint, o.UsePathStyle = aws.String(m.URL()), true
	})
	bucket := "stowken-it-" + randomName()
	body := bytes.Repeat([]byte("x"), 1000)
	small := []byte("twenty-four bytes, this.")

	if _, err := client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("CreateBucket %s: %v", bucket, err)
	}
	checkWireCounts(t, m, "CreateBucket", wireCounts{S3PutClass: 1})

	put := func(key string, data []byte, ifNoneMatch *string) error {
		_, err := client.PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: aws.String(key),
			Body: bytes.NewReader(data), IfNoneMatch: ifNoneMatch})
		return err
	}
	if err := put("k1", body, nil); err != nil {
		t.Fatal(err)
	}
	checkWireCounts(t, m, "PutObject of 1000 bytes", wireCounts{S3PutClass: 1, S3PutBytes: 1000})

	// The conditional PutObject fails (the key exists) and is billed all the same; its payload
	// crossed the wire too.
	err := put("k1", body, aws.String("*"))
	var status interface{ HTTPStatusCode() int }
	if !errors.As(err, &status) || status.HTTPStatusCode() != http.StatusPreconditionFailed {
		t.Fatalf("PutObject with If-None-Match * of an existing key: got %v, want 412 Precondition Failed", err)
	}
	checkWireCounts(t, m, "failed conditional PutObject", wireCounts{S3PutClass: 1, S3PutBytes: 1000})

	for _, k := range []string{"k2", "k3"} {
		if err := put(k, small, nil); err != nil {
			t.Fatal(err)
		}
	}
	checkWireCounts(t, m, "2 PutObjects of 24 bytes", wireCounts{S3PutClass: 2, S3PutBytes: 48})

	get, err := client.GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: aws.String("k1")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(get.Body)
	get.Body.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("GetObject k1: %d bytes, %v; want the 1000 bytes put", len(got), err)
	}
	checkWireCounts(t, m, "GetObject", wireCounts{S3GetClass: 1})

	head, err := client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &bucket, Key: aws.String("k1")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(head.ContentLength) != 1000 {
		t.Errorf("HeadObject k1: Content-Length %d, want 1000", aws.ToInt64(head.ContentLength))
	}
	checkWireCounts(t, m, "HeadObject", wireCounts{S3GetClass: 1})

	// Concurrent requests are each counted once.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &bucket, Key: aws.String("k2")}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	checkWireCounts(t, m, "8 concurrent HeadObjects", wireCounts{S3GetClass: 8})

	list, err := client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 3 {
		t.Errorf("ListObjectsV2: %d objects, want 3", len(list.Contents))
	}
	checkWireCounts(t, m, "ListObjectsV2", wireCounts{S3PutClass: 1})

	del, err := client.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: &bucket, Delete: &s3types.Delete{
		Objects: []s3types.ObjectIdentifier{{Key: aws.String("k1")}, {Key: aws.String("k2")}}}})
	if err != nil || len(del.Errors) > 0 {
		t.Fatalf("DeleteObjects k1 k2: %v %v", err, del)
	}
	checkWireCounts(t, m, "DeleteObjects of 2 keys", wireCounts{S3Delete: 1})

	if _, err := client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("k3")}); err != nil {
		t.Fatal(err)
	}
	checkWireCounts(t, m, "DeleteObject", wireCounts{S3Delete: 1})

	if _, err := client.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("DeleteBucket %s: %v", bucket, err)
	}
	checkWireCounts(t, m, "DeleteBucket", wireCounts{S3Delete: 1})
}

// testWireMeterDynamoDB makes the requests the project makes through a meter in front of the
// DynamoDB server, in a table of its own with one global secondary index, and checks the
// request units counted against sizes worked out by hand.
//
// Item sizes (attribute name length + value size, an S value's size its length):
//   - small {"pk": "a", "sk": "b"}: (2+1) + (2+1) = 6 bytes: 1 WRU.
//   - big {"pk": "big", "sk": "1", "gsi1pk": "g", "gsisk": "s", "data": 1450 × "x"}:
//     (2+3) + (2+1) + (6+1) + (5+1) + (4+1450) = 5+3+7+6+1454 = 1475 bytes: ceil(1475/1024) =
//     2 WRU, and it has both gsi1pk and gsisk, so it is in the index: 2 × (1+1) = 4 WRU.
//   - batch item {"pk": "batch", "sk": "00".."24"}: (2+5) + (2+2) = 11 bytes: 1 WRU each.
func testWireMeterDynamoDB(ctx context.Context, t *testing.T, cfg aws.Config, endpoint string) {
	m := startWireMeter(t, endpoint, [][2]string{{"gsi1pk", "gsisk"}})
	client := ddb.NewFromConfig(cfg, func(o *ddb.Options) { o.BaseEndpoint = aws.String(m.URL()) })
	table := "stowken-it-meter-" + randomName()
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	attr := func(name string) ddbtypes.AttributeDefinition {
		return ddbtypes.AttributeDefinition{AttributeName: aws.String(name), AttributeType: ddbtypes.ScalarAttributeTypeS}
	}
	key := func(hash, rng string) []ddbtypes.KeySchemaElement {
		return []ddbtypes.KeySchemaElement{{AttributeName: aws.String(hash), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String(rng), KeyType: ddbtypes.KeyTypeRange}}
	}

	_, err := client.CreateTable(ctx, &ddb.CreateTableInput{
		TableName:            &table,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{attr("pk"), attr("sk"), attr("gsi1pk"), attr("gsisk")},
		KeySchema:            key("pk", "sk"),
		GlobalSecondaryIndexes: []ddbtypes.GlobalSecondaryIndex{{IndexName: aws.String("gsi1"),
			KeySchema: key("gsi1pk", "gsisk"), Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll}}},
		BillingMode: ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("CreateTable %s: %v", table, err)
	}
	if err := ddb.NewTableExistsWaiter(client).Wait(ctx, &ddb.DescribeTableInput{TableName: &table}, time.Minute); err != nil {
		t.Fatalf("table %s not ACTIVE: %v", table, err)
	}
	// The waiter's DescribeTable requests are as many as it took; only CreateTable is exact.
	if c := m.Snapshot(); c.DDBOps["CreateTable"] != 1 || c.DDBOps["DescribeTable"] < 1 || c.DDBWRU != 0 || c.DDBRRU != 0 {
		t.Errorf("CreateTable and waiting: the meter counted %+v", c)
	}
	m.Reset()

	smallItem := map[string]ddbtypes.AttributeValue{"pk": s("a"), "sk": s("b")}
	if _, err := client.PutItem(ctx, &ddb.PutItemInput{TableName: &table, Item: smallItem}); err != nil {
		t.Fatal(err)
	}
	checkWireCounts(t, m, "PutItem of 6 bytes", wireCounts{DDBOps: map[string]int{"PutItem": 1}, DDBWRU: 1})

	bigKey := map[string]ddbtypes.AttributeValue{"pk": s("big"), "sk": s("1")}
	bigItem := map[string]ddbtypes.AttributeValue{"pk": s("big"), "sk": s("1"), "gsi1pk": s("g"), "gsisk": s("s"),
		"data": s(strings.Repeat("x", 1450))}
	if _, err := client.PutItem(ctx, &ddb.PutItemInput{TableName: &table, Item: bigItem}); err != nil {
		t.Fatal(err)
	}
	checkWireCounts(t, m, "PutItem of 1475 bytes in the index", wireCounts{DDBOps: map[string]int{"PutItem": 1}, DDBWRU: 4})

	// {"pk": "a", "sk": "b", "v": "2"}: 6 + (1+1) = 8 bytes, 1 WRU, billed though it fails.
	_, err = client.PutItem(ctx, &ddb.PutItemInput{TableName: &table,
		Item:                map[string]ddbtypes.AttributeValue{"pk": s("a"), "sk": s("b"), "v": s("2")},
		ConditionExpression: aws.String("attribute_not_exists(pk)")})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("conditional PutItem of an existing key: got %v, want ConditionalCheckFailedException", err)
	}
	checkWireCounts(t, m, "failed conditional PutItem", wireCounts{DDBOps: map[string]int{"PutItem": 1}, DDBWRU: 1})

	var writes []ddbtypes.WriteRequest
	for i := range 25 {
		writes = append(writes, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{
			Item: map[string]ddbtypes.AttributeValue{"pk": s("batch"), "sk": s(fmt.Sprintf("%02d", i))}}})
	}
	batch, err := client.BatchWriteItem(ctx, &ddb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{table: writes}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(batch.UnprocessedItems[table]); n > 0 {
		t.Fatalf("BatchWriteItem: %d unprocessed items", n)
	}
	checkWireCounts(t, m, "BatchWriteItem of 25 items of 11 bytes", wireCounts{DDBOps: map[string]int{"BatchWriteItem": 1}, DDBWRU: 25})

	// ConsistentRead of the 1475-byte item: ceil(1475/4096) = 1 RRU.
	get, err := client.GetItem(ctx, &ddb.GetItemInput{TableName: &table, Key: bigKey, ConsistentRead: aws.Bool(true)})
	if err != nil || len(get.Item) != 5 {
		t.Fatalf("GetItem big: %v, %d attributes; want 5", err, len(get.Item))
	}
	checkWireCounts(t, m, "consistent GetItem", wireCounts{DDBOps: map[string]int{"GetItem": 1}, DDBRRU: 1})

	// The server's ConsumedCapacity is taken when the response has one: an eventually
	// consistent read of up to 4 KB is 0.5 RRU.
	_, err = client.GetItem(ctx, &ddb.GetItemInput{TableName: &table, Key: bigKey,
		ReturnConsumedCapacity: ddbtypes.ReturnConsumedCapacityTotal})
	if err != nil {
		t.Fatal(err)
	}
	checkWireCounts(t, m, "eventually consistent GetItem with ConsumedCapacity", wireCounts{DDBOps: map[string]int{"GetItem": 1}, DDBRRU: 0.5})

	// 25 items of 11 bytes: 275 bytes, 1 RRU, halved for an eventually consistent read.
	q, err := client.Query(ctx, &ddb.QueryInput{TableName: &table, KeyConditionExpression: aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": s("batch")}})
	if err != nil || q.Count != 25 {
		t.Fatalf("Query batch: %v, %d items; want 25", err, q.Count)
	}
	checkWireCounts(t, m, "eventually consistent Query", wireCounts{DDBOps: map[string]int{"Query": 1}, DDBRRU: 0.5})

	_, err = client.UpdateItem(ctx, &ddb.UpdateItemInput{TableName: &table, Key: smallItem,
		UpdateExpression:          aws.String("SET v = :v"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": s("3")}})
	if err != nil {
		t.Fatal(err)
	}
	checkWireCounts(t, m, "UpdateItem", wireCounts{DDBOps: map[string]int{"UpdateItem": 1}, DDBWRU: 1})

	// The big item as the meter saw it written: 2 WRU for the table and 2 for the index.
	if _, err := client.DeleteItem(ctx, &ddb.DeleteItemInput{TableName: &table, Key: bigKey}); err != nil {
		t.Fatal(err)
	}
	checkWireCounts(t, m, "DeleteItem of the 1475-byte item", wireCounts{DDBOps: map[string]int{"DeleteItem": 1}, DDBWRU: 4})

	// The small item (6 bytes in the shadow: the UpdateItem left it alone): 1 WRU for the table
	// only, the condition having failed.
	_, err = client.DeleteItem(ctx, &ddb.DeleteItemInput{TableName: &table, Key: smallItem,
		ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if !errors.As(err, &ccf) {
		t.Fatalf("conditional DeleteItem of an existing key: got %v, want ConditionalCheckFailedException", err)
	}
	checkWireCounts(t, m, "failed conditional DeleteItem", wireCounts{DDBOps: map[string]int{"DeleteItem": 1}, DDBWRU: 1})

	if _, err := client.DeleteTable(ctx, &ddb.DeleteTableInput{TableName: &table}); err != nil {
		t.Fatalf("DeleteTable %s: %v", table, err)
	}
	checkWireCounts(t, m, "DeleteTable", wireCounts{DDBOps: map[string]int{"DeleteTable": 1}})
}

// TestWireMeterItemSize checks the item sizer on values worked out by hand.
func TestWireMeterItemSize(t *testing.T) {
	for _, c := range []struct {
		value string // an attribute value in DynamoDB's wire JSON
		size  int64
	}{
		{`{"S": "abc"}`, 3},
		{`{"S": "é€"}`, 5},              // UTF-8: 2 + 3 bytes
		{`{"N": "12300"}`, 3},           // digits 123: (3+1)/2 + 1
		{`{"N": "-0.0012"}`, 2},         // digits 12: (2+1)/2 + 1
		{`{"N": "0"}`, 1},               // no significant digit: (0+1)/2 + 1
		{`{"N": "1.5E+10"}`, 2},         // digits 15
		{`{"N": "123456.78"}`, 5},       // digits 12345678: (8+1)/2 + 1
		{`{"B": "AQID"}`, 3},            // 3 bytes decoded
		{`{"BOOL": false}`, 1},          //
		{`{"NULL": true}`, 1},           //
		{`{"SS": ["a", "bc"]}`, 3},      // 1 + 2
		{`{"NS": ["1", "100"]}`, 4},     // 2 + 2
		{`{"BS": ["AQ==", "AQI="]}`, 3}, // 1 + 2
		// 3 + (1 + len("a") + 2) + (1 + len("b") + numberSize("7") = 2) = 3 + 4 + 4
		{`{"M": {"a": {"S": "xy"}, "b": {"N": "7"}}}`, 11},
		// 3 + (1 + 3) + (1 + 1) + (1 + 1)
		{`{"L": [{"S": "abc"}, {"BOOL": true}, {"NULL": true}]}`, 11},
		// 3 + (1 + (3 + (1 + 1 + 1))): a list holding a map {"k": "v"}
		{`{"L": [{"M": {"k": {"S": "v"}}}]}`, 10},
	} {
		var v any
		if err := json.Unmarshal([]byte(c.value), &v); err != nil {
			t.Fatalf("%s: %v", c.value, err)
		}
		if got := attrValueSize(v); got != c.size {
			t.Errorf("size of %s = %d, want %d", c.value, got, c.size)
		}
	}

	// (2+1) + (2+1) + (len("n") + 3) = 10: {"pk": "a", "sk": "b", "n": 12300}.
	var it item
	if err := json.Unmarshal([]byte(`{"pk": {"S": "a"}, "sk": {"S": "b"}, "n": {"N": "12300"}}`), &it); err != nil {
		t.Fatal(err)
	}
	if got := itemSize(it); got != 10 {
		t.Errorf("itemSize = %d, want 10", got)
	}
}

// TestWireMeterS3Classes checks the request class of S3 requests, and which of them are
// PutObjects, without a server.
func TestWireMeterS3Classes(t *testing.T) {
	for _, c := range []struct {
		method, target string
		header         http.Header
		class          s3Class
		putObject      bool
	}{
		{"PUT", "/b", nil, s3Put, false},                                          // CreateBucket
		{"PUT", "/b/k?x-id=PutObject", nil, s3Put, true},                          // PutObject
		{"PUT", "/b/k", http.Header{"X-Amz-Copy-Source": {"/b/j"}}, s3Put, false}, // CopyObject
		{"PUT", "/b/k?partNumber=1&uploadId=u", nil, s3Put, false},                // UploadPart
		{"POST", "/b/k?uploads", nil, s3Put, false},                               // CreateMultipartUpload
		{"POST", "/b?delete", nil, s3Delete, false},                               // DeleteObjects
		{"GET", "/b?list-type=2&prefix=p", nil, s3Put, false},                     // ListObjectsV2
		{"GET", "/b/", nil, s3Put, false},                                         // ListObjects
		{"GET", "/b?uploads", nil, s3Put, false},                                  // ListMultipartUploads
		{"GET", "/", nil, s3Put, false},                                           // ListBuckets
		{"GET", "/b?location", nil, s3Get, false},                                 // GetBucketLocation
		{"GET", "/b/k?x-id=GetObject", nil, s3Get, false},                         // GetObject
		{"HEAD", "/b/k", nil, s3Get, false},                                       // HeadObject
		{"HEAD", "/b", nil, s3Get, false},                                         // HeadBucket
		{"DELETE", "/b/k?x-id=DeleteObject", nil, s3Delete, false},                // DeleteObject
		{"DELETE", "/b", nil, s3Delete, false},                                    // DeleteBucket
	} {
		r := httptest.NewRequest(c.method, c.target, nil)
		for k, v := range c.header {
			r.Header[k] = v
		}
		if got := classifyS3(r); got != c.class {
			t.Errorf("%s %s: class %d, want %d", c.method, c.target, got, c.class)
		}
		if got := isPutObject(r); got != c.putObject {
			t.Errorf("%s %s: PutObject %v, want %v", c.method, c.target, got, c.putObject)
		}
	}

	// An aws-chunked PutObject counts its decoded length, not the length of the chunks.
	r := httptest.NewRequest("PUT", "/b/k", strings.NewReader(strings.Repeat("c", 1100)))
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "1000")
	if got := putObjectBytes(r, nil); got != 1000 {
		t.Errorf("aws-chunked PutObject: %d bytes, want the decoded 1000", got)
	}
}

// TestWireMeterBatchUnprocessed checks, without a server, that a BatchWriteItem's unprocessed
// requests cost nothing and leave the shadow alone, and that a batch delete is priced from the
// shadow.
func TestWireMeterBatchUnprocessed(t *testing.T) {
	m := &wireMeter{indexes: [][2]string{{"gsi1pk", "gsisk"}}, counts: wireCounts{DDBOps: map[string]int{}},
		shadow: map[shadowKey]shadowItem{}}
	// {"pk": "p", "sk": "1", "gsi1pk": "g", "gsisk": "s"}: 3 + 3 + 7 + 6 = 19 bytes, in the index:
	// 2 WRU. The second put (sk 2) comes back unprocessed.
	put := func(sk string) string {
		return `{"PutRequest": {"Item": {"pk": {"S": "p"}, "sk": {"S": "` + sk + `"}, "gsi1pk": {"S": "g"}, "gsisk": {"S": "s"}}}}`
	}
	req := `{"RequestItems": {"t": [` + put("1") + `, ` + put("2") + `]}}`
	resp := `{"UnprocessedItems": {"t": [` + put("2") + `]}}`
	m.meterDynamoDB("BatchWriteItem", []byte(req), http.StatusOK, []byte(resp))
	if m.counts.DDBWRU != 2 || len(m.shadow) != 1 {
		t.Fatalf("batch put: %v WRU, %d items in the shadow; want 2 and 1", m.counts.DDBWRU, len(m.shadow))
	}
	// Deleting sk 1 (known, in the index: 2 WRU) and sk 9 (unknown: 1 WRU).
	del := `{"RequestItems": {"t": [{"DeleteRequest": {"Key": {"pk": {"S": "p"}, "sk": {"S": "1"}}}},` +
		` {"DeleteRequest": {"Key": {"pk": {"S": "p"}, "sk": {"S": "9"}}}}]}}`
	m.meterDynamoDB("BatchWriteItem", []byte(del), http.StatusOK, []byte(`{"UnprocessedItems": {}}`))
	if m.counts.DDBWRU != 5 || len(m.shadow) != 0 {
		t.Fatalf("batch delete: %v WRU in all, %d items in the shadow; want 5 and 0", m.counts.DDBWRU, len(m.shadow))
	}
	// Another error than a failed condition costs nothing.
	m.meterDynamoDB("PutItem", []byte(`{"TableName": "t", "Item": {"pk": {"S": "p"}, "sk": {"S": "3"}}}`),
		http.StatusBadRequest, []byte(`{"__type": "com.amazonaws.dynamodb.v20120810#ValidationException"}`))
	if m.counts.DDBWRU != 5 || len(m.shadow) != 0 {
		t.Fatalf("failed PutItem: %v WRU in all, %d items in the shadow; want 5 and 0", m.counts.DDBWRU, len(m.shadow))
	}
}
