/** A short-lived DuckDB in-memory instance sized for this 2-core, ~150 MiB budget. */
import { DuckDBInstance } from '@duckdb/node-api';
import type { DuckDBConnection } from '@duckdb/node-api';

export interface DuckOptions {
  /**
   * Worker threads. 1 keeps memory flat: every extra thread holds its own Parquet row group and
   * read buffers, and the ingest's JS thread already has the other core.
   */
  threads?: number;
  /** DuckDB buffer manager limit, e.g. '64MB'; null leaves DuckDB's own default (80% of RAM). */
  memoryLimit?: string | null;
  /** Where DuckDB may spill (inside the run's staging directory). */
  tempDirectory?: string;
}

export interface Duck {
  run(sql: string): Promise<void>;
  /** Rows as plain JS values (numbers, strings, Dates, arrays, objects). */
  rows<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** The open connection, for what `run`/`rows` do not cover (appenders, columnar reads). */
  connection(): DuckDBConnection;
  close(): void;
}

export async function openDuck(options: DuckOptions = {}): Promise<Duck> {
  const config: Record<string, string> = {
    threads: String(options.threads ?? 1),
    // Row order inside a part carries no meaning; not preserving it lets DuckDB stream.
    preserve_insertion_order: 'false',
  };
  if (options.memoryLimit !== null) config.memory_limit = options.memoryLimit ?? '64MB';
  if (options.tempDirectory !== undefined) config.temp_directory = options.tempDirectory;
  const instance = await DuckDBInstance.create(':memory:', config);
  let connection: DuckDBConnection | undefined = await instance.connect();
  const conn = (): DuckDBConnection => {
    if (connection === undefined) throw new Error('DuckDB connection is closed');
    return connection;
  };
  return {
    async run(sql) {
      await conn().run(sql);
    },
    async rows<T>(sql: string) {
      const reader = await conn().runAndReadAll(sql);
      return reader.getRowObjectsJS() as T[];
    },
    connection: conn,
    close() {
      connection?.closeSync();
      connection = undefined;
      instance.closeSync();
    },
  };
}
