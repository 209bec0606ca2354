import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { printSchema } from 'graphql';
import { getSchema } from './schema.js';

/**
 * Prints the Pothos schema to schema/schema.graphql. With `--check`, compares instead and
 * exits 1 when the committed file is stale (the test command runs this).
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const target = path.join(root, 'schema', 'schema.graphql');
const printed = `${printSchema(getSchema())}\n`;

if (process.argv.includes('--check')) {
  const committed = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
  if (committed !== printed) {
    console.error('schema/schema.graphql is stale: run `npm run build:schema && npm run codegen` and commit the result');
    process.exit(1);
  }
  console.log('schema/schema.graphql is up to date');
} else {
  fs.writeFileSync(target, printed);
  console.log(`wrote ${path.relative(process.cwd(), target)}`);
}
