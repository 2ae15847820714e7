#!/usr/bin/env node
/**
 * bundle/cli.js, what config.json's entrypoint, the Debian package and `make run` start: the CLI and plugin
 * (bundle/app.js) compiled with the code cache made for them at assembly (bundle/app.cache, scripts/code-cache.js).
 * Required rather than run (scripts/code-cache.js), it only gives its compiler.
 */
import { join } from 'node:path';
import { compileWithCodeCache } from './code-cache';

export { compileWithCodeCache };

if (require.main === module) compileWithCodeCache(join(__dirname, 'app.js'), join(__dirname, 'app.cache')).run(module, require);
