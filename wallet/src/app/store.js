/** The wallet's IndexedDB store (database "safecode-wallet", object store "state") via idb-keyval. */
import { createStore, get, set, clear } from 'idb-keyval'

/** @returns {import('./wallet.js').Store} */
export function openStore () {
  const store = createStore('safecode-wallet', 'state')
  return {
    get: (key) => get(key, store),
    set: (key, value) => set(key, value, store),
    clear: () => clear(store)
  }
}
