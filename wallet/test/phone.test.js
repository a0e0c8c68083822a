/** The local phone-number check (the server normalises authoritatively). */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isE164, toE164 } from '../src/protocol/phone.js'

test('national numbers take the default country code and lose the trunk 0', () => {
  assert.equal(toE164('010-1234-5678'), '+821012345678')
  assert.equal(toE164(' 010 1234 5678 '), '+821012345678')
  assert.equal(toE164('(010) 1234.5678'), '+821012345678')
  assert.equal(toE164('07911 123456', '44'), '+447911123456')
})

test('international forms keep their country code', () => {
  assert.equal(toE164('+82 10-1234-5678'), '+821012345678')
  assert.equal(toE164('0044 7911 123456'), '+447911123456')
  assert.equal(toE164('+1 (202) 555-0123', '82'), '+12025550123')
})

test('junk is refused', () => {
  for (const junk of ['', 'abc', '+', '12', '+0123456789', '010-1234-567a', '+82 10 1234 5678 9999 9999',
    '<script>', '１２３４５６７８', 'x'.repeat(40), '++821012345678']) {
    assert.equal(toE164(junk), null, junk)
  }
  assert.equal(toE164('0101234567', 'abc'), null)
  assert.equal(isE164('+821012345678'), true)
  assert.equal(isE164('821012345678'), false)
})

test('whatever is typed, the result is E.164 or null (random inputs)', () => {
  const alphabet = '0123456789+-(). x가\u202e\n'
  let seed = 11
  const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n }
  for (let i = 0; i < 5000; i++) {
    const text = Array.from({ length: rand(40) }, () => alphabet[rand(alphabet.length)]).join('')
    const out = toE164(text, ['82', '1', '44', '0', ''][rand(5)])
    assert.ok(out === null || isE164(out), JSON.stringify([text, out]))
  }
})
