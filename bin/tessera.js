#!/usr/bin/env node
// The `tessera` command. Runs the compiled CLI (npm run build).
import { main } from '../dist/cli/main.js';

await main();
