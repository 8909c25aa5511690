#!/usr/bin/env node
// Runs the worker CLI through tsx's loader, like bin/codetether.mjs.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/worker.ts");
