#!/usr/bin/env node
// The azcse command: a committed stub, so package managers can link the bin before the package is built.
import "../dist/cli.js";
