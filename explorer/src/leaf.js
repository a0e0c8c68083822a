/**
 * Ledger leaves (protocol/block.py): a check-in's is the canonical CBOR map
 * {"v": 1, "id": checkin id, "commit": SHA-256 of the signed record} (leaf_data); an audit
 * entry's is {"v": 1, "id": audit id, "kind": "audit", "commit": SHA-256 of the signed
 * entry} (audit_leaf_data). Ids are 16 bytes. The explorer rebuilds the leaf from the id
 * the visitor typed, the kind and the commitment the proof carries, so a proof for some
 * other leaf cannot pass for theirs.
 */
import { concat, utf8 } from './bytes.js'
import { VerifyError } from './errors.js'

export const ID_SIZE = 16
export const KINDS = ['checkin', 'audit']

function textItem (text) {
  const bytes = utf8(text)
  return concat(Uint8Array.of(0x60 + bytes.length), bytes)
}

export function leafData (id, commit, kind = 'checkin') {
  if (!(id instanceof Uint8Array) || id.length !== ID_SIZE) throw new VerifyError('malformed', 'an id is 16 bytes')
  if (!(commit instanceof Uint8Array) || commit.length !== 32) throw new VerifyError('malformed', 'a commitment is 32 bytes')
  if (!KINDS.includes(kind)) throw new VerifyError('malformed', `unknown leaf kind ${String(kind).slice(0, 20)}`)
  const audit = kind === 'audit'
  return concat(
    Uint8Array.of(audit ? 0xa4 : 0xa3), // a map of 4 or 3, keys in canonical order
    textItem('v'), Uint8Array.of(0x01),
    textItem('id'), Uint8Array.of(0x50), id, // byte string of 16
    audit ? concat(textItem('kind'), textItem('audit')) : new Uint8Array(0),
    textItem('commit'), Uint8Array.of(0x58, 0x20), commit // byte string of 32
  )
}
