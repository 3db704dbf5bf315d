#!/usr/bin/env node
'use strict';
require('../dist/cmd/keelutl.js');
