#!/usr/bin/env node
// Independent reader of the Parquet files stowken writes, for the tests of package export
// (export/parquet_test.go): DuckDB, not parquet-go, reads them.
//
//   node scripts/duckdb-parquet.mjs FILE.parquet
//
// writes one JSON line per row of the file, in file order:
//
//   {"id", "application", "model", "tokenizer", "created_ms", "metadata", "messages"}
//
// where created_ms is created_at in Unix milliseconds and messages is DuckDB's JSON of the list
// (to_json), so that nulls, lists and nested structs come out as DuckDB read them.
//
// The npm package @duckdb/node-api (pinned by scripts/tools.sh, with its Linux binary) is
// resolved through NODE_PATH (ESM `import` ignores NODE_PATH, hence createRequire). Exits with
// status 3 when the package cannot be found.
import { createRequire } from 'node:module';
import { join } from 'node:path';

const file = process.argv[2];
if (!file) {
  console.error('usage: duckdb-parquet.mjs FILE.parquet');
  process.exit(2);
}
let duckdb;
try {
  const nodePath = (process.env.NODE_PATH || '').split(':').filter(Boolean)[0] || '.';
  duckdb = createRequire(join(nodePath, 'noop.js'))('@duckdb/node-api');
} catch (e) {
  console.error(`@duckdb/node-api not found (NODE_PATH=${process.env.NODE_PATH}): ${e.message}`);
  process.exit(3);
}
const instance = await duckdb.DuckDBInstance.create(':memory:');
const conn = await instance.connect();
const quoted = "'" + file.replaceAll("'", "''") + "'";
const reader = await conn.runAndReadAll(
  `SELECT id, application, model, tokenizer, epoch_ms(created_at) AS created_ms, metadata,
          to_json(messages) AS messages
   FROM read_parquet(${quoted}, file_row_number = true) ORDER BY file_row_number`);
for (const row of reader.getRowObjectsJson()) {
  process.stdout.write(JSON.stringify(row) + '\n');
}
