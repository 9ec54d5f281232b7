/**
 * Generates the e-commerce example's data: `npx tsx examples/ecommerce/generate.ts [--events N --out DIR]`.
 * The generator itself lives in src/demo/ecommerce-data.ts (the CLI's `init` and `demo` use it too).
 */
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { generateEcommerceData } from '../../src/demo/ecommerce-data.js';

export type { GenerateOptions, GenerateSummary } from '../../src/demo/ecommerce-data.js';

export { generateEcommerceData } from '../../src/demo/ecommerce-data.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: fileURLToPath(new URL('.', import.meta.url)) },
      events: { type: 'string', default: '1000000' },
      users: { type: 'string' },
      items: { type: 'string' },
      seed: { type: 'string', default: '42' },
      days: { type: 'string', default: '30' },
      start: { type: 'string' },
    },
  });
  const summary = await generateEcommerceData({
    outDir: values.out,
    events: Number(values.events),
    seed: Number(values.seed),
    days: Number(values.days),
    ...(values.users !== undefined ? { users: Number(values.users) } : {}),
    ...(values.items !== undefined ? { items: Number(values.items) } : {}),
    ...(values.start !== undefined ? { start: new Date(values.start) } : {}),
    onProgress: (done, total) => process.stderr.write(`\rgenerating… ${done}/${total}`),
  });
  process.stderr.write('\n');
  console.log(JSON.stringify(summary, null, 2));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
