/**
 * C2SP tlog-cosignature v1 (protocol/cosignature.py): a witness's line in a checkpoint
 * note is base64(key id || u64 timestamp || Ed25519 signature) over
 * "cosignature/v1\ntime <timestamp>\n" + the checkpoint text. Witness keys have algorithm
 * byte 0x04.
 */
import { concat, readUint, utf8 } from './bytes.js'
import { ed25519Verify, parseKey } from './note.js'

export const ALG_COSIGNATURE_V1 = 0x04
const MAX_TIMESTAMP = (1n << 63n) - 1n

export function parseWitnessKey (text) {
  return parseKey(text, ALG_COSIGNATURE_V1)
}

/**
 * Check the lines of `witnesses` ({name, keyId, publicKey}) among `sigs` of a note over
 * `body`. Returns [{name, keyId, timestamp (BigInt) | null, ok}] for each witness: ok
 * false with timestamp null when it has no line; a line that does not verify is ok false.
 */
export async function checkCosignatures (body, sigs, witnesses) {
  const out = []
  for (const w of witnesses) {
    const sig = sigs.find((s) => s.name === w.name && s.keyId === w.keyId)
    if (!sig) { out.push({ name: w.name, keyId: w.keyId, timestamp: null, ok: false }); continue }
    out.push({ name: w.name, keyId: w.keyId, ...(await verifyCosignature(body, sig, w)) })
  }
  return out
}

async function verifyCosignature (body, sig, witness) {
  if (sig.raw.length !== 4 + 8 + 64) return { timestamp: null, ok: false }
  const timestamp = readUint(sig.raw.subarray(4, 12))
  if (timestamp > MAX_TIMESTAMP) return { timestamp: null, ok: false }
  const message = concat(utf8(`cosignature/v1\ntime ${timestamp}\n`), utf8(body))
  return { timestamp, ok: await ed25519Verify(witness.publicKey, sig.raw.subarray(12), message) }
}
