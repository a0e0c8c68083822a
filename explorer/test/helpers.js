/** The vectors protocol/ledger_vectors.py writes (protocol/vectors/ledger.json). */
import { readFileSync } from 'node:fs'

export const vectors = JSON.parse(readFileSync(new URL('../../protocol/vectors/ledger.json', import.meta.url), 'utf8'))
