/**
 * Where integration tests find the real services started by scripts/services.sh.
 * Under `npm test` (TESSERA_REQUIRE_SERVICES=1) a missing service fails the suite loudly; when a developer runs
 * vitest directly without services, the suite fails with the command to run instead of skipping silently.
 */
function required(name: string, what: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') {
    throw new Error(
      `${name} is not set: ${what} tests need a real server. Run them with \`npm test\`, or start one with ` +
        '`source $(bash scripts/services.sh start)` first.',
    );
  }
  return v;
}

export const redisUrl = (): string => required('TESSERA_TEST_REDIS_URL', 'Redis');
export const postgresUrl = (): string => required('TESSERA_TEST_PG_URL', 'PostgreSQL');
/** The Kafka bootstrap brokers (`host:port`) of the broker that `scripts/services.sh start kafka` runs. */
export const kafkaBrokers = (): string[] =>
  required('TESSERA_TEST_KAFKA_BROKERS', 'Kafka')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
