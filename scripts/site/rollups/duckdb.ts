/** The store's DuckDB helper (openDuck) with what the site rollups add: columnar reads and appenders. */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDuck } from '../../reports/store/duck.ts';

export type ColumnType = 'INTEGER' | 'BIGINT' | 'VARCHAR' | 'BOOLEAN' | 'UBIGINT';
export type Row = Record<string, unknown>;

export interface Sql {
  run(sql: string): Promise<void>;
  rows<T = Row>(sql: string): Promise<T[]>;
  /** Column by column: for long results, several times faster than `rows`. */
  columns<T extends unknown[][]>(sql: string): Promise<T>;
  columnsObject(sql: string): Promise<Record<string, unknown[]>>;
  column<T>(sql: string): Promise<T[]>;
  /** (Re)creates a temp table and appends the rows (the appender: ~2M rows/s, far faster than VALUES). */
  load(table: string, columns: readonly (readonly [string, ColumnType])[], rows: Iterable<readonly unknown[]>): Promise<void>;
  /** Appends rows to a table `load` created. */
  append(table: string, columns: readonly (readonly [string, ColumnType])[], rows: Iterable<readonly unknown[]>): Promise<void>;
  close(): void;
}

export async function openSql(): Promise<Sql> {
  // An in-memory database spills to `.tmp/` in the working folder (the repository) by default. DuckDB
  // creates this folder only when it spills and removes it on close, so a build that never closes
  // (or never spills) leaves nothing behind.
  const spill = join(tmpdir(), `dmarcops-site-duckdb-${process.pid}-${randomUUID().slice(0, 8)}`);
  // All cores and DuckDB's own memory limit: unlike an ingest, a build has the machine to itself.
  const duck = await openDuck({ threads: Math.max(1, availableParallelism()), memoryLimit: null, tempDirectory: spill });
  const conn = duck.connection;
  let closed = false;
  const sql: Sql = {
    run: duck.run,
    rows: duck.rows,
    async columns<T extends unknown[][]>(text: string) {
      return (await conn().runAndReadAll(text)).getColumnsJS() as T;
    },
    async columnsObject(text: string) {
      return (await conn().runAndReadAll(text)).getColumnsObjectJS() as Record<string, unknown[]>;
    },
    async column<T>(text: string) {
      return ((await conn().runAndReadAll(text)).getColumnsJS()[0] ?? []) as T[];
    },
    async load(table, columns, rows) {
      await conn().run(`CREATE OR REPLACE TEMP TABLE ${table} (${columns.map(([name, type]) => `${name} ${type}`).join(', ')})`);
      await sql.append(table, columns, rows);
    },
    async append(table, columns, rows) {
      const appender = await conn().createAppender(table);
      try {
        for (const row of rows) {
          columns.forEach(([, type], index) => {
            const value = row[index];
            if (value === null || value === undefined) appender.appendNull();
            else if (type === 'INTEGER') appender.appendInteger(value as number);
            else if (type === 'BIGINT') appender.appendBigInt(BigInt(value as number));
            else if (type === 'VARCHAR') appender.appendVarchar(value as string);
            else if (type === 'BOOLEAN') appender.appendBoolean(value as boolean);
            else appender.appendUBigInt(value as bigint);
          });
          appender.endRow();
        }
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
    },
    close() {
      if (closed) return;
      closed = true;
      duck.close();
      rmSync(spill, { recursive: true, force: true });
    },
  };
  return sql;
}
