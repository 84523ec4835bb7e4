// Package integration holds stowken's end-to-end tests: the vault and the stowken CLI against
// real S3- and DynamoDB-compatible servers (MinIO and dynalite in development and CI, or any
// servers the environment points at).
//
// The package has no code of its own; everything is in its tests. Run them with the servers
// started for the run:
//
//	scripts/with-servers.sh go test -count=1 -v ./integration/
//
// The tests read STOWKEN_TEST_S3_ENDPOINT and STOWKEN_TEST_DYNAMODB_ENDPOINT. Where either is
// unset they skip, except under CI=true, where a missing server fails them. Every test works in
// its own key prefix of the bucket "stowken-it" and its own DynamoDB table "stowken-it-<random>",
// so the tests are independent and run in parallel; what a passing test created is removed
// afterwards, what a failing test created is kept for inspection (its location is logged).
// The corpora come from ../shared/corpus (see internal/corpus).
package integration
