import { resolve } from "node:path";
import { RegistryError } from "./errors.js";
import { migrate } from "./migrations.js";
import { PostgresDriver } from "./postgres-driver.js";
import { SqlRegistry, type SqlRegistryOptions } from "./sql-registry.js";
import { SqliteDriver } from "./sqlite-driver.js";
import type { SqlDriver } from "./sql.js";
import type { Registry } from "./types.js";

export const DEFAULT_REGISTRY_URL = "sqlite:.hindcast/registry.db";

export interface OpenRegistryOptions extends SqlRegistryOptions {
  /** PostgreSQL only: the schema to use (created if absent); default the server's search_path. */
  schema?: string;
}

/** The URL to use: an explicit one, else `HINDCAST_REGISTRY`, else the project-local SQLite file. */
export function resolveRegistryUrl(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  return explicit || env["HINDCAST_REGISTRY"] || DEFAULT_REGISTRY_URL;
}

/**
 * Opens the registry a URL names, applying pending migrations: `sqlite:PATH` (relative to the working directory),
 * `sqlite::memory:`, or `postgres://user@host:port/db` (also `postgresql://`).
 */
export async function openRegistry(url: string = resolveRegistryUrl(), options: OpenRegistryOptions = {}): Promise<Registry> {
  let driver: SqlDriver;
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length);
    if (path === "") throw new RegistryError("invalid_registry_url", `no file in ${url}`, { url });
    driver = new SqliteDriver(path === ":memory:" ? path : resolve(path));
  } else if (url.startsWith("postgres://") || url.startsWith("postgresql://")) {
    if (options.schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(options.schema)) {
      throw new RegistryError("invalid_registry_url", `schema name ${options.schema} must be lower-case letters, digits, _`, { schema: options.schema });
    }
    if (options.schema) {
      const bootstrap = new PostgresDriver(url, { max: 1 });
      try {
        await bootstrap.write((tx) => tx.exec(`CREATE SCHEMA IF NOT EXISTS ${options.schema}`));
      } catch (error) {
        // Two openers may race on CREATE SCHEMA IF NOT EXISTS; the loser sees a duplicate and the schema exists.
        if ((error as { code?: string }).code !== "23505") throw error;
      } finally {
        await bootstrap.close();
      }
    }
    driver = new PostgresDriver(url, options.schema ? { schema: options.schema } : {});
  } else {
    throw new RegistryError("invalid_registry_url", `registry URL must start with sqlite: or postgres://, got ${redact(url)}`, {
      url: redact(url),
    });
  }
  try {
    await migrate(driver, options.now ?? (() => new Date()));
  } catch (error) {
    await driver.close();
    throw error;
  }
  return new SqlRegistry(driver, options);
}

/** A URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
}

/** For the CLI and scripts: `--registry` / `HINDCAST_REGISTRY` for the URL, `--token` / `HINDCAST_TOKEN` for the token. */
export function openRegistryFromEnv(flags: { registry?: string; token?: string } = {}, env: NodeJS.ProcessEnv = process.env): Promise<Registry> {
  const token = flags.token ?? env["HINDCAST_TOKEN"];
  return openRegistry(resolveRegistryUrl(flags.registry, env), token ? { token } : {});
}
