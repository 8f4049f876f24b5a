// One private Redis for the whole test run; tests that stop Redis start their own.
import type { TestProject } from 'vitest/node';
import { RedisServer } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

let server: RedisServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  server = await RedisServer.start();
  project.provide('redisUrl', server.url);
}

export async function teardown(): Promise<void> {
  await server?.destroy();
}
