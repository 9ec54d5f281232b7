#!/usr/bin/env node
// Entry point of the `tessera` command (bin/tessera.js runs the compiled copy).
import { main } from './main.js';

await main();
