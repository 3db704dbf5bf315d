#!/usr/bin/env node
'use strict';
// Runs leave client connections and timers behind: the exit code ends the process.
require('../dist/jepsen/main.js').main(process.argv.slice(2)).then((code) => process.exit(code));
