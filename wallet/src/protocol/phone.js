/**
 * Phone numbers as typed: a quick local check and a best guess at E.164. The server
 * normalises authoritatively (libphonenumber) and refuses junk; this only catches typos
 * early and turns a national number into +CC form with the chosen country code.
 */

const E164 = /^\+[1-9][0-9]{6,14}$/
const ALLOWED = /^\+?[0-9 ().-]+$/

/** @param {string} text */
export function isE164 (text) {
  return typeof text === 'string' && E164.test(text)
}

/**
 * `text` as E.164, or null if it cannot be one.
 * @param {string} text what the visitor typed
 * @param {string} countryCode e.g. "82" (the default country)
 */
export function toE164 (text, countryCode = '82') {
  if (typeof text !== 'string' || text.length > 32) return null
  const trimmed = text.trim()
  if (!ALLOWED.test(trimmed)) return null
  const digits = trimmed.replace(/[^0-9]/g, '')
  let candidate
  if (trimmed.startsWith('+')) candidate = '+' + digits
  else if (digits.startsWith('00')) candidate = '+' + digits.slice(2)
  else if (!/^[1-9][0-9]{0,2}$/.test(countryCode)) return null
  else candidate = '+' + countryCode + digits.replace(/^0/, '')
  return isE164(candidate) ? candidate : null
}
