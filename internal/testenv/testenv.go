// Package testenv finds, for tests, the S3- and DynamoDB-compatible servers that
// scripts/with-servers.sh starts (MinIO and dynalite), and skips the tests that need them when
// they are not configured, except under CI=true, where a missing server is a failure.
package testenv

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Environment variables naming the servers (set by scripts/with-servers.sh).
const (
	S3Endpoint       = "STOWKEN_TEST_S3_ENDPOINT"
	DynamoDBEndpoint = "STOWKEN_TEST_DYNAMODB_ENDPOINT"
)

// Endpoints returns the values of the environment variables vars. When one is unset it skips
// the test, or fails it under CI=true; run says how to run the tests with the servers.
func Endpoints(t testing.TB, run string, vars ...string) []string {
	t.Helper()
	var values, missing []string
	for _, v := range vars {
		values = append(values, os.Getenv(v))
		if os.Getenv(v) == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) == 0 {
		return values
	}
	msg := fmt.Sprintf("%s not set: these tests need the S3 (MinIO) and DynamoDB (dynalite) servers; %s, "+
		"or point the variables at running servers", strings.Join(missing, " and "), run)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: tests against the servers must not skip)")
	}
	t.Skip("skipping: " + msg)
	return nil
}

// Credentials returns the credentials a test gives its AWS clients: nil (the SDK's chain) when
// AWS_ACCESS_KEY_ID or AWS_PROFILE is set, and otherwise MinIO's default root user, which
// scripts/with-servers.sh starts MinIO with and dynalite accepts like any other.
func Credentials() aws.CredentialsProvider {
	if os.Getenv("AWS_ACCESS_KEY_ID") != "" || os.Getenv("AWS_PROFILE") != "" {
		return nil
	}
	return credentials.NewStaticCredentialsProvider("minioadmin", "minioadmin", "")
}
