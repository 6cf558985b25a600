// A local folder without putMany, counting its puts: an add then stores each
// package as it goes (as it always does big ones), so tests can show what a
// refusal found later in the batch takes back.

import type { FsStorage } from '../../storage/fs-storage.js';

export function oneAtATime(fs: FsStorage): { storage: FsStorage; puts: () => number } {
  let puts = 0;
  const storage = new Proxy(fs, {
    get(t, k: keyof FsStorage) {
      if (k === 'putMany') return undefined;
      if (k === 'put') return async (...a: Parameters<FsStorage['put']>) => void (await t.put(...a), puts++);
      const v = t[k];
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
  return { storage, puts: () => puts };
}
