#!/usr/bin/env node
// The `tessera` command: runs the compiled CLI (npm run build).
import '../dist/cli/run.js';
