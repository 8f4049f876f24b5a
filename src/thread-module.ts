// Where a worker thread's module is. Under vitest the sources run from src/ as TypeScript, which a
// worker thread cannot load; the thread then runs the build of the same module (`npm test` builds
// first), found at the same place below dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The URL a Worker can start for the module `file`, named relative to `from` (the caller's
 * import.meta.url). `what` names the thread in the error thrown when the build is missing.
 */
export function threadModuleUrl(file: string, from: string, what: string): URL {
  const here = new URL(file, from);
  if (from.endsWith('.js')) return here;
  const at = here.href.lastIndexOf('/src/');
  const built = new URL(`${here.href.slice(0, at)}/dist${here.href.slice(at)}`);
  if (!existsSync(fileURLToPath(built)))
    throw new Error(`${what}: ${fileURLToPath(built)} is missing; run "npm run build"`);
  return built;
}
