#!/usr/bin/env node
'use strict';
require('../dist/jepsen/main.js');
