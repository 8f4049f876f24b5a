#!/usr/bin/env node
// placeholder, replaced below
export {};
