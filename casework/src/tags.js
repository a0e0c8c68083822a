/**
 * Notice tags (protocol/notice.py): HMAC-SHA-256(key = a contact's 32-byte notify
 * secret, msg = "safecode/v1/notice\n" || notice id (16 bytes)), first 16 bytes. The
 * wallet computes its own tag the same way and looks for it in the published list.
 */
const LABEL = new TextEncoder().encode('safecode/v1/notice\n')
export const TAG_SIZE = 16
export const NOTICE_ID_SIZE = 16

/**
 * @param {Uint8Array} notifySecret 32 bytes
 * @param {Uint8Array} noticeId 16 bytes
 */
export async function noticeTag (notifySecret, noticeId) {
  if (!(notifySecret instanceof Uint8Array) || notifySecret.length !== 32) throw new TypeError('notify secret is 32 bytes')
  if (!(noticeId instanceof Uint8Array) || noticeId.length !== NOTICE_ID_SIZE) throw new TypeError('notice id is 16 bytes')
  const subtle = globalThis.crypto.subtle
  const key = await subtle.importKey('raw', notifySecret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const msg = new Uint8Array(LABEL.length + NOTICE_ID_SIZE)
  msg.set(LABEL)
  msg.set(noticeId, LABEL.length)
  return new Uint8Array(await subtle.sign('HMAC', key, msg)).slice(0, TAG_SIZE)
}
