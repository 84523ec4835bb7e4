#!/usr/bin/env node
// Independent reader of the Parquet files stowken writes, for the tests: DuckDB, not
// parquet-go, reads them (export/parquet_test.go, the export; catalog/parquet/duckdb_test.go,
// the catalog's files).
//
//   node scripts/duckdb-query.mjs 'SQL'
//
// runs SQL in an in-memory DuckDB and writes one JSON line per result row, in order, as
// DuckDB's getRowObjectsJson gives it (a BIGINT as a string, a map or list as DuckDB's JSON
// when the query applies to_json).
//
// The npm package @duckdb/node-api (pinned by scripts/tools.sh, with its Linux binary) is
// resolved through NODE_PATH (ESM `import` ignores NODE_PATH, hence createRequire). Exits with
// status 3 when the package cannot be found.
import { createRequire } from 'node:module';
import { join } from 'node:path';

const sql = process.argv[2];
if (!sql) {
  console.error("usage: duckdb-query.mjs 'SQL'");
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
const reader = await conn.runAndReadAll(sql);
for (const row of reader.getRowObjectsJson()) {
  process.stdout.write(JSON.stringify(row) + '\n');
}
