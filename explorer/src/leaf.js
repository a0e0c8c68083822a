/**
 * A check-in's ledger leaf (protocol/block.py leaf_data): the canonical CBOR map
 * {"v": 1, "id": checkin id (16 bytes), "commit": SHA-256 of the signed record}. The
 * explorer rebuilds it from the check-in id the visitor typed and the commitment the
 * proof carries, so a proof for some other leaf cannot pass for theirs.
 */
import { concat, utf8 } from './bytes.js'
import { VerifyError } from './errors.js'

export const CHECKIN_ID_SIZE = 16

function textKey (text) {
  const bytes = utf8(text)
  return concat(Uint8Array.of(0x60 + bytes.length), bytes)
}

export function leafData (checkinId, commit) {
  if (!(checkinId instanceof Uint8Array) || checkinId.length !== CHECKIN_ID_SIZE) throw new VerifyError('malformed', 'a check-in id is 16 bytes')
  if (!(commit instanceof Uint8Array) || commit.length !== 32) throw new VerifyError('malformed', 'a commitment is 32 bytes')
  return concat(
    Uint8Array.of(0xa3), // map of 3, keys in canonical order
    textKey('v'), Uint8Array.of(0x01),
    textKey('id'), Uint8Array.of(0x50), checkinId, // byte string of 16
    textKey('commit'), Uint8Array.of(0x58, 0x20), commit // byte string of 32
  )
}
