// Where a worker thread's module is and how Node is to load it. The build (dist/, what runs in
// production) starts the .js file beside the caller and needs nothing more. Under vitest the
// callers run from src/ as TypeScript, and their threads run the TypeScript sources as well, so a
// test always runs the code as it stands in src/, never a build that may be out of date. Node's
// own type stripping is not enough for that: it neither finds `./x.ts` behind the `./x.js`
// specifiers the sources import (TypeScript's NodeNext convention) nor accepts parameter
// properties, which the sources use. tsx's ESM loader (`tsx/esm`, a devDependency) does both, and
// starts faster in a thread than tsx's full loader, whose CommonJS hooks the sources do not need.
// It is resolved from this file, not from the working directory, and is never loaded by the build.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

export interface ThreadModule {
  url: URL;
  /** The thread's Node options, when they differ from the process's. */
  execArgv?: string[];
}

/** The thread module `name` (no extension) in the folder of `from` (the caller's import.meta.url). */
export function threadModule(from: string, name: string): ThreadModule {
  if (from.endsWith('.js')) return { url: new URL(`./${name}.js`, from) };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href;
  return { url: new URL(`./${name}.ts`, from), execArgv: [...process.execArgv, '--import', tsx] };
}
